import * as pulumi from "@pulumi/pulumi";
import type { ConnectionArgs } from "../common/resource-options";
import type { ConnectionInput } from "../connection/schema";
import { parseConnection, readHostStatus } from "./collect";
import type { HostStatus } from "./parse";

/** Arguments of {@link getConntrackStatus}. */
export interface GetConntrackStatusArgs {
  /** How to reach the host: the same connection object the resources take. */
  connection: pulumi.Input<ConnectionArgs>;
  /**
   * Values to wait for before reading, e.g. an output of a resource that changes the host
   * (`tableSize.effectiveMax`), so that the status shows the host after the change.
   */
  after?: pulumi.Input<unknown>;
}

/**
 * A host's conntrack status (count, max, buckets, usage, counters summed over CPUs, helpers in use,
 * NOTRACK rule counters of this package, and which source was read), as an Output, like other
 * Pulumi get-functions. Runs whenever the program runs (preview included) once its inputs are
 * known; it only reads. The result is not secret even when the connection is: it holds no credential.
 */
export function getConntrackStatus(args: GetConntrackStatusArgs): pulumi.Output<HostStatus> {
  const result = pulumi
    .all([pulumi.output(args.connection), pulumi.output(args.after)])
    .apply(([c]) => readHostStatus(parseConnection(c as unknown as ConnectionInput)));
  return pulumi.unsecret(result);
}

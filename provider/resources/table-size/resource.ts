import * as pulumi from "@pulumi/pulumi";
import type { Assert, DeclaresOutputs } from "../../common/output-names";
import { outputSlots } from "../../common/output-names";
import { thinProvider, TYPE_MODULE } from "../../common/thin-provider";
import { secretConnection, withSecretConnection, type ConnectionArgs } from "../../common/resource-options";
import type { ModuleState } from "../../transport/facts";
import type { FileRole } from "./managed-files";
import { TABLE_SIZE_OUTPUT_NAMES, type TableSizeOutputs } from "./outputs";
import { TABLE_SIZE_TYPE, type TimeoutName } from "./schema";

/** Timeouts in seconds by name; each must exist as a `net.netfilter.*timeout*` sysctl on the host. */
export type ConntrackTimeoutsArgs = Partial<Record<TimeoutName, pulumi.Input<number>>>;

/** Arguments of {@link ConntrackTableSize}. */
export interface ConntrackTableSizeArgs {
  /** How to reach the host (`@pulumi/command`'s `remote.ConnectionArgs`, plus `sudo`). Stored as a secret. */
  connection: pulumi.Input<ConnectionArgs>;
  /** `nf_conntrack_max`, absolute. Give this or `maxPerCore`. */
  max?: pulumi.Input<number>;
  /** kube-proxy-style sizing: max = max(maxPerCore × CPUs, min) (kube-proxy: 32768 per core). */
  maxPerCore?: pulumi.Input<number>;
  /** The floor of per-core sizing (kube-proxy: 131072). */
  min?: pulumi.Input<number>;
  /** Hash buckets; default max / 4 (rounded up to the kernel's page step), only ever raised, as kube-proxy does. */
  buckets?: pulumi.Input<number>;
  /** Never lower a value the host already has higher. Default `false`. */
  onlyRaise?: pulumi.Input<boolean>;
  /** Timeouts in seconds (`tcpEstablished`, `tcpCloseWait`, `tcpTimeWait`, `udp`, `udpStream`, `generic`, ...). */
  timeouts?: pulumi.Input<ConntrackTimeoutsArgs>;
  /** Persist in sysctl.d/modprobe.d (with a udev rule for a modular nf_conntrack). Default `true`. */
  persist?: pulumi.Input<boolean>;
  /** Accept a table whose memory estimate exceeds 10% of the host's RAM. Default `false`. */
  allowLargeTable?: pulumi.Input<boolean>;
}

/**
 * Sizes a host's conntrack table: `nf_conntrack_max` (absolute or kube-proxy's per-core formula),
 * the hash size and timeouts, set live and persisted, with the values read back, a memory estimate,
 * and the host's earlier values restored on delete. Refused, with the way out, from a network
 * namespace other than the host's initial one (containers), with a read-only `/sys`, for a hash
 * size the kernel would round, and for a table too large for the host's RAM.
 */
export class ConntrackTableSize extends pulumi.dynamic.Resource {
  declare readonly max: pulumi.Output<number | undefined>;
  declare readonly maxPerCore: pulumi.Output<number | undefined>;
  declare readonly min: pulumi.Output<number | undefined>;
  declare readonly buckets: pulumi.Output<number | undefined>;
  declare readonly onlyRaise: pulumi.Output<boolean>;
  declare readonly persist: pulumi.Output<boolean>;
  declare readonly allowLargeTable: pulumi.Output<boolean>;
  /** `uname -r` of the host. */
  declare readonly kernelRelease: pulumi.Output<string>;
  /** How nf_conntrack exists on the host. */
  declare readonly nfConntrack: pulumi.Output<ModuleState>;
  /** The session's network namespace. */
  declare readonly namespace: pulumi.Output<"initial" | "other" | "unknown">;
  /** Online CPUs. */
  declare readonly cpus: pulumi.Output<number>;
  /** RAM in bytes. */
  declare readonly memTotalBytes: pulumi.Output<number | null>;
  /** The max the program resolves to on this host. */
  declare readonly targetMax: pulumi.Output<number | null>;
  /** The buckets the program resolves to on this host. */
  declare readonly targetBuckets: pulumi.Output<number | null>;
  /** `nf_conntrack_max` read back. */
  declare readonly effectiveMax: pulumi.Output<number | null>;
  /** The hash size read back. */
  declare readonly effectiveBuckets: pulumi.Output<number | null>;
  /** The host's timeouts read back, by name. */
  declare readonly effectiveTimeouts: pulumi.Output<Partial<Record<TimeoutName, number>>>;
  /** Kernel memory of a full table, in bytes. */
  declare readonly memoryEstimateBytes: pulumi.Output<number | null>;
  /** `nf_conntrack_count` when the operation ran. */
  declare readonly countAtOperation: pulumi.Output<number | null>;
  /** Managed files present on the host. */
  declare readonly persistedFiles: pulumi.Output<string[]>;
  /** Before this resource first changed it (restored on delete). */
  declare readonly previousMax: pulumi.Output<number | null>;
  /** Before this resource first changed it (restored on delete). */
  declare readonly previousBuckets: pulumi.Output<number | null>;
  /** Before this resource first changed each (restored on delete), by sysctl name. */
  declare readonly previousTimeouts: pulumi.Output<Record<string, number>>;
  /** The managed files' content before create (restored on delete; null: there was none). */
  declare readonly previousFiles: pulumi.Output<Record<FileRole, string | null>>;
  declare readonly warnings: pulumi.Output<string[]>;
  declare readonly notes: pulumi.Output<string[]>;
  /** What the last create or update changed. */
  declare readonly actions: pulumi.Output<string[]>;

  constructor(name: string, args: ConntrackTableSizeArgs, opts?: pulumi.CustomResourceOptions) {
    const props = { ...args, connection: secretConnection(args.connection), ...outputSlots(TABLE_SIZE_OUTPUT_NAMES) };
    super(thinProvider(TABLE_SIZE_TYPE), name, props, withSecretConnection(opts), TYPE_MODULE, TABLE_SIZE_TYPE);
  }
}

// Compile-time only: every output is declared on the class, as `pulumi.Output` of its type.
type _FieldsAreTheOutputs = Assert<DeclaresOutputs<ConntrackTableSize, TableSizeOutputs, typeof TABLE_SIZE_OUTPUT_NAMES>>;

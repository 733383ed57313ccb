import type { Connection } from "../../../connection/schema";
import { connectionIdentity } from "../../../transport/pool";
import type { Family } from "../syntax/address";
import { joinBatch } from "../../../common/batcher";
import type { IptablesVariant, Observed } from "../host/observed";
import { observe } from "../observe";

/**
 * {@link observe}, shared by the reads of one host that are in flight at the same time (a refresh
 * reads every rule at once): they need the same observation, so one command serves them all.
 * Reads change nothing, so they do not wait for the host's changes, only for each other. Only reads
 * over the same connection identity share a command.
 */
export function observeShared(conn: Connection, family: Family, variant?: IptablesVariant): Promise<Observed> {
  // Keyed by the complete connection identity: a read with credentials or a host key that do not
  // work must fail on its own, never be answered from a batch-mate's session.
  const key = JSON.stringify(["notrack-read", connectionIdentity(conn), family, variant ?? null]);
  return joinBatch(key, key, undefined, async (members) => {
    const o = await observe(conn, family, variant, { shared: "read" });
    return members.map(() => ({ ok: true as const, value: o }));
  });
}

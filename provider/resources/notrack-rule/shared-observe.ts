import { endpointKey, type Connection } from "../../connection/schema";
import type { Family } from "./address";
import { joinBatch } from "./host-batcher";
import { observe, type IptablesVariant, type Observed } from "./observe";

/**
 * {@link observe}, shared by the reads of one host that are in flight at the same time (a refresh
 * reads every rule at once): they need the same observation, so one command serves them all.
 * Reads change nothing, so they do not wait for the host's changes, only for each other.
 */
export function observeShared(conn: Connection, family: Family, variant?: IptablesVariant): Promise<Observed> {
  const key = JSON.stringify(["notrack-read", endpointKey(conn), conn.sudo === true, family, variant ?? null]);
  return joinBatch(key, key, undefined, async (members) => {
    const o = await observe(conn, family, variant);
    return members.map(() => ({ ok: true as const, value: o }));
  });
}

/**
 * The changes the engine announced for this operation and has not asked for yet, per resource type
 * and machine. A Check of a new resource, or a Diff that finds changes, announces one; the Create or
 * Update that follows is it. Under `--parallel` the engine starts a host's steps as slots free, so
 * the last rules of a host often arrive just after its batch has read the host: without waiting,
 * the batch applies, and the late rules read and apply again. A batch that has read the host waits
 * a little (bounded by `batchSettings.graceMs`) while siblings it was told about have not arrived.
 * A sibling that never comes (its step waits for this one, or its Check failed) costs at most that.
 * Off where connections are not opened ahead either (tests that call the handlers in process).
 */
import { machineKey, type Connection } from "../connection/schema";
import { preconnectSettings } from "../transport/preconnect";

const pending = new Map<string, number>();
const keyOf = (type: string, conn: Connection) => JSON.stringify([type, machineKey(conn)]);

/** A change of a resource of `type` through `conn` is coming (Check of a new resource, Diff with changes). */
export function announceChange(type: string, conn: Connection): void {
  if (!preconnectSettings.enabled) return;
  const k = keyOf(type, conn);
  pending.set(k, (pending.get(k) ?? 0) + 1);
}

/** The engine asked for one announced change of `type` through `conn` (Create or Update). */
export function changeArrived(type: string, conn: Connection): void {
  const k = keyOf(type, conn);
  const n = pending.get(k) ?? 0;
  if (n > 1) pending.set(k, n - 1);
  else pending.delete(k);
}

/** Changes of these types on the machine of `conn` announced and not asked for yet. */
export function announcedChanges(types: readonly string[], conn: Connection): number {
  return types.reduce((n, t) => n + (pending.get(keyOf(t, conn)) ?? 0), 0);
}

/** Forgets every announcement (tests: a new operation in the same process). */
export function resetAnnounced(): void {
  pending.clear();
}

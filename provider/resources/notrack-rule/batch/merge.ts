/**
 * One apply for a whole batch: the members' plans, each computed against the host as the members
 * before it leave it, joined into one atomic live batch and one file write. Pure.
 */
import type { Observed } from "../observe";
import type { FileWrite, LiveBatch, Plan } from "../plan";

/**
 * The plan that carries out `plans` in order (at least one; all for one backend and one family,
 * the first computed from `o`). The guard is the observation's whenever any member needs one: the batch as a
 * whole is only right for the host that was read. The file write expects the file as read and
 * leaves it as the last member wants it.
 */
export function mergePlans(o: Observed, plans: readonly Plan[]): Plan {
  const live = mergeLive(
    o,
    plans.flatMap((p) => (p.live ? [p.live] : [])),
  );
  const file = mergeFiles(
    o,
    plans.flatMap((p) => (p.file ? [p.file] : [])),
  );
  return {
    changes: plans.flatMap((p) => p.changes),
    ...(live ? { live } : {}),
    ...(file ? { file } : {}),
    persistence: plans[plans.length - 1].persistence,
  };
}

function mergeLive(o: Observed, batches: LiveBatch[]): LiveBatch | undefined {
  if (batches.length === 0) return undefined;
  const backend = batches[0].backend;
  if (batches.some((b) => b.backend !== backend)) throw new Error("internal error: a NotrackRule batch mixes backends");
  const guarded = batches.some((b) => b.guard);
  if (backend === "nftables") {
    const lines = batches.flatMap((b) => b.text.split("\n").filter((l) => l !== ""));
    // Each add repeats the idempotent table and chain declarations; once is enough unless the
    // table is deleted in between.
    const deletesTable = lines.some((l) => l.startsWith("delete table "));
    const seen = new Set<string>();
    const kept = lines.filter((l) => {
      if (deletesTable || !/^add (table|chain) /.test(l)) return true;
      if (seen.has(l)) return false;
      seen.add(l);
      return true;
    });
    return { backend, text: [...kept, ""].join("\n"), ...(guarded ? { guard: { kind: "nft", hash: o.nft.tableHash } } : {}) };
  }
  const lines = batches.flatMap((b) => b.text.split("\n").filter((l) => l !== "" && l !== "*raw" && l !== "COMMIT"));
  // Only deletes empty chains, and a batch holds one kind of operation: a chain one member empties
  // stays empty through the rest of the batch.
  const emptied = [...new Set(batches.flatMap((b) => b.emptiedChains ?? []))];
  return {
    backend,
    text: ["*raw", ...lines, "COMMIT", ""].join("\n"),
    ...(guarded ? { guard: { kind: "iptables", hashes: { ...o.iptables.chainHashes } } } : {}),
    ...(emptied.length ? { emptiedChains: emptied } : {}),
  };
}

function mergeFiles(o: Observed, writes: FileWrite[]): FileWrite | undefined {
  if (writes.length === 0) return undefined;
  const first = writes[0];
  const last = writes[writes.length - 1];
  if (writes.some((w) => w.path !== first.path))
    throw new Error("internal error: a NotrackRule batch writes more than one saved-ruleset file");
  const before = o.persist.files[first.path];
  // Saved then unsaved again within the batch: the file is as it was.
  if (last.content === null ? !before : last.content === before?.content) return undefined;
  return { path: first.path, expectedSha256: first.expectedSha256, content: last.content, mode: first.mode };
}

/**
 * One apply for a whole batch: the members' plans, each computed against the host as the members
 * before it leave it, joined into one atomic live batch (their operations in order) and one file
 * write. Pure.
 */
import type { Observed } from "../host/observed";
import type { FileWrite, LiveBatch, Plan } from "../plan";
import { confRowsDigest, ereRegExp } from "../../../transport/conf-dirs";
import { CORE_INSTALL_ERE } from "../../../transport/conntrack-core";
import { MODPROBE_BLOCK_ERE } from "../observe";

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
  const modules = [...new Set(plans.flatMap((p) => p.modules ?? []))];
  const file = mergeFiles(
    o,
    plans.flatMap((p) => (p.file ? [p.file] : [])),
  );
  const guard = modprobeGuard(o, live);
  return {
    changes: plans.flatMap((p) => p.changes),
    ...(live ? { live } : {}),
    ...(modules.length ? { modules } : {}),
    ...(file ? { file } : {}),
    ...(guard ? { modprobeGuard: guard } : {}),
    persistence: plans[plans.length - 1].persistence,
  };
}

function mergeLive(o: Observed, batches: LiveBatch[]): LiveBatch | undefined {
  if (batches.length === 0) return undefined;
  const backend = batches[0].backend;
  if (batches.some((b) => b.backend !== backend)) throw new Error("internal error: a NotrackRule batch mixes backends");
  const guarded = batches.some((b) => b.guard);
  // The members' operations in order, as data: the text is rendered once, when the batch is applied.
  const ops = batches.flatMap((b) => b.ops);
  if (backend === "nftables") return { backend, ops, ...(guarded ? { guard: { kind: "nft", hash: o.nft.tableHash } } : {}) };
  // Only deletes empty chains, and a batch holds one kind of operation: a chain one member empties
  // stays empty through the rest of the batch.
  const emptied = [...new Set(batches.flatMap((b) => b.emptiedChains ?? []))];
  return {
    backend,
    ops,
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

/**
 * What a batch that puts rules in decided by in modprobe.d: the plan refuses a rule while a line
 * keeps the conntrack core out (or, for a helper rule, its helper's module), so the apply checks
 * under the host lock that those lines are still the ones read. Removing rules needs no such check.
 * None when the lines read cannot be matched byte for byte (see `confRowsDigest`).
 */
export function modprobeGuard(o: Observed, live: LiveBatch | undefined): Plan["modprobeGuard"] {
  const adds = (live?.ops ?? []).flatMap((op) => (op.op === "add" || op.op === "replace" ? [op] : []));
  if (adds.length === 0) return undefined;
  const ere = adds.some((op) => op.rule.spec.helper !== undefined) ? MODPROBE_BLOCK_ERE : CORE_INSTALL_ERE;
  const sha256 = confRowsDigest(o.modprobeRows, ereRegExp(ere));
  return sha256 === undefined ? undefined : { ere, sha256 };
}

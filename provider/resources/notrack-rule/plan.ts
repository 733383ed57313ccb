/**
 * The pure heart of the raw-table rule kinds (NotrackRule, ConntrackHelperRule): given what the
 * host has and what one resource wants, the changes: one atomic live batch as operations (rendered
 * into iptables-restore --noflush or nft -f input when applied), the helper module to load first,
 * and at most one saved-ruleset file edit. Tested without a host.
 */
import { persistenceFor, type Persistence } from "./host/backend";
import { type ResolvedBackend } from "./syntax/rule";
import { renderIptablesRule } from "./syntax/iptables-rule";
import { HELPER_INFO, helperObjectName } from "./syntax/helpers";
import { nftChainOf, renderNftRule } from "./syntax/nft-rule";
import { editSavedRules } from "./syntax/saved-iptables";
import { editNftablesConf } from "./syntax/saved-nftables";
import { type Chain, type RuleSpec } from "./syntax/rule";
import { type Family } from "./syntax/address";
import { isExactly, liveRules, nftChainsEmptiedBy, nftObjectsFreedBy, nftTableRules, type LiveRule } from "./host/live";
import { helperModuleDecision, type HelperModuleState } from "./host/helper-modules";
import { canDropRawTable, chainsEmptiedBy } from "./host/raw-table";
import type { Observed } from "./host/observed";

/** What one resource wants on the host. */
export interface Desired {
  tag: string;
  /** The rule; `undefined` to remove it (delete). */
  spec?: RuleSpec;
  persist: boolean;
  backend: ResolvedBackend;
  /**
   * Create only: rules whose tag starts with this are the resource's own too (the leftover of an
   * interrupted attempt of the same create, or the rule of the resource it replaces): they are
   * taken over and re-tagged `tag`, never duplicated.
   */
  adopt?: string;
}

/** One change, as the outputs and logs describe it. */
export type Change =
  | { action: "add"; backend: ResolvedBackend; rule: string }
  | { action: "replace"; backend: ResolvedBackend; from: string[]; rule: string }
  | { action: "remove"; backend: ResolvedBackend; rules: string[] }
  | { action: "save"; file: string; rule: string }
  | { action: "unsave"; file: string };

/** A rule found on the host that a live change removes or replaces: how the tools name it. */
export type FoundRule = Pick<LiveRule, "chain" | "text" | "index" | "handle">;

/** The rule a live change writes: its match and its tag. */
export interface NewRule {
  spec: RuleSpec;
  tag: string;
}

/**
 * One change of the live ruleset, as data. The batch's text (iptables-restore or nft input) is
 * rendered from these once, when it is applied, so a batch of many members is merged as data.
 * - `add`: the rule goes last in `chain`.
 * - `replace`: the rule takes the place of `old` (all carrying the tag being written): in place of
 *   the first when it is in the same chain, else last in `chain`; the others go.
 * - `delete`: `old` goes.
 * - `delete-table` (nftables): this package's table goes with its last rule.
 * - `delete-object` (nftables): a `ct helper` object goes with the last rule that set it (an `add`
 *   or `replace` of a helper rule declares its object, idempotently, when rendered).
 * - `delete-chain` (nftables): a helper chain goes with its last rule while the table stays, and
 *   the NOTRACK chains with the last NOTRACK rule when helper rules are left (see `nftChainsEmptiedBy`).
 */
export type LiveOp =
  | { op: "add"; family: Family; backend: ResolvedBackend; chain: Chain; rule: NewRule }
  | { op: "replace"; family: Family; backend: ResolvedBackend; chain: Chain; rule: NewRule; old: FoundRule[] }
  | { op: "delete"; family: Family; backend: ResolvedBackend; chain: string; old: FoundRule }
  | { op: "delete-table"; family: Family; backend: ResolvedBackend }
  | { op: "delete-object"; family: Family; backend: ResolvedBackend; name: string }
  | { op: "delete-chain"; family: Family; backend: ResolvedBackend; chain: string };

/**
 * The live change: one batch applied atomically. `guard` is the state the batch was computed from;
 * the apply script refuses (and the operation observes again) when the host no longer has it.
 */
export interface LiveBatch {
  backend: ResolvedBackend;
  /** The changes, in the order they are made. */
  ops: LiveOp[];
  guard?: { kind: "iptables"; hashes: Record<string, string> } | { kind: "nft"; hash: string };
  /**
   * iptables-nft only: built-in chains of the raw table the batch leaves without any rule. The
   * apply removes each of them that is then empty and default, and the table when nothing else is
   * left in it (after checking the live chain and table again; see `raw-table.ts`), so the host is
   * as it was before the first rule.
   */
  emptiedChains?: string[];
}

/**
 * The saved-ruleset change: the whole new file (or its removal, `content: null`, for a file this
 * package created), valid only if the file still has `expectedSha256`.
 */
export interface FileWrite {
  path: string;
  /** sha256 of the content it was computed from, or `absent`. */
  expectedSha256: string;
  content: string | null;
  /** Mode of a new file (an existing one keeps its own). */
  mode: string;
}

/** What to do. Nothing to do when `live` and `file` are both undefined. */
export interface Plan {
  changes: Change[];
  live?: LiveBatch;
  /**
   * Kernel modules of helpers to load (modprobe) before the live batch: a helper rule's module where
   * it is loadable and not loaded yet.
   */
  modules?: string[];
  /** A helper rule: its helper's module as the plan, carried out, leaves it. */
  helperModule?: { name: string; state: HelperModuleState };
  file?: FileWrite;
  /**
   * A batch that puts rules in: the modprobe.d lines its plan decided by (those that keep out the
   * conntrack core, and, with a helper rule, the helpers' modules): the ERE that finds them and the
   * sha256 of what it found (`confRowsDigest`). The apply checks it under the host lock, so a
   * ModuleBlacklist of the core written since the read (by another stack, or by this one between
   * the read and the apply) is seen before any rule goes in.
   */
  modprobeGuard?: { ere: string; sha256: string };
  persistence: Persistence;
  /** The rule as written (iptables-save line or nft statement); undefined on delete. */
  ruleText?: string;
}

/** Renders the rule for a backend. */
export function ruleTextFor(backend: ResolvedBackend, spec: RuleSpec, tag: string): string {
  return backend === "nftables" ? renderNftRule(spec, tag) : renderIptablesRule(spec, tag);
}

/**
 * The changes that make the host hold exactly `d` for tag `d.tag` and leave everything else alone:
 * rules without the tag, other resources' rules and every other line of the saved files.
 */
export function plan(o: Observed, d: Desired): Plan {
  const ours = liveRules(o, d.backend, d.tag, d.adopt);
  const changes: Change[] = [];
  const ruleText = d.spec ? ruleTextFor(d.backend, d.spec, d.tag) : undefined;
  const live = d.backend === "nftables" ? planNft(o, d, ours, changes) : planIptables(o, d, ours, changes);
  const persistence = persistenceFor(d.backend, o, d.persist);
  const file = planFile(o, d, changes);
  // The module goes with a live change that puts a helper rule in; a refusal (the module is kept
  // out) is the batch's decision before this plan (see batch/members.ts).
  const decision = live && d.spec?.helper !== undefined ? helperModuleDecision(d.spec.helper, o.helperModules) : undefined;
  const modules = decision && "load" in decision && decision.load ? [decision.module] : [];
  const moduleName = d.spec?.helper === undefined ? undefined : HELPER_INFO[d.spec.helper].module;
  const helperModule = moduleName
    ? { name: moduleName, state: modules.length ? ("loaded" as const) : (o.helperModules?.[moduleName]?.state ?? "unknown") }
    : undefined;
  return {
    changes,
    ...(live ? { live } : {}),
    ...(modules.length ? { modules } : {}),
    ...(helperModule ? { helperModule } : {}),
    ...(file ? { file } : {}),
    persistence,
    ...(ruleText ? { ruleText } : {}),
  };
}

function planIptables(o: Observed, d: Desired, ours: LiveRule[], changes: Change[]): LiveBatch | undefined {
  const guard = { kind: "iptables" as const, hashes: { ...o.iptables.chainHashes } };
  const base = { family: o.family, backend: d.backend };
  if (d.spec) {
    if (ours.length === 1 && isExactly(ours[0], d.spec, d.tag)) return undefined;
    const want = renderIptablesRule(d.spec, d.tag);
    const rule = { spec: d.spec, tag: d.tag };
    if (ours.length === 0) {
      changes.push({ action: "add", backend: d.backend, rule: want });
      // Appending depends on no position: no guard, so parallel creates never conflict. A create that
      // takes over an earlier attempt's rule is guarded all the same: that attempt may still be
      // running on the host (cut off from us while it waited for the lock), and whichever of the two
      // applies second must see the other's rule rather than add a second one.
      return { backend: d.backend, ops: [{ op: "add", ...base, chain: d.spec.chain, rule }], ...(d.adopt ? { guard } : {}) };
    }
    changes.push({ action: "replace", backend: d.backend, from: ours.map((r) => r.text), rule: want });
    return { backend: d.backend, ops: [{ op: "replace", ...base, chain: d.spec.chain, rule, old: ours.map(found) }], guard };
  }
  if (ours.length === 0) return undefined;
  changes.push({ action: "remove", backend: d.backend, rules: ours.map((r) => r.text) });
  const emptied = canDropRawTable(d.backend) ? chainsEmptiedBy(o.iptables.save, new Set(ours.map((r) => r.text))) : [];
  return {
    backend: d.backend,
    ops: ours.map((r) => ({ op: "delete" as const, ...base, chain: r.chain, old: found(r) })),
    guard,
    ...(emptied.length ? { emptiedChains: emptied } : {}),
  };
}

function found(r: LiveRule): FoundRule {
  return {
    chain: r.chain,
    text: r.text,
    ...(r.index !== undefined ? { index: r.index } : {}),
    ...(r.handle !== undefined ? { handle: r.handle } : {}),
  };
}

function planNft(o: Observed, d: Desired, ours: LiveRule[], changes: Change[]): LiveBatch | undefined {
  const guard = { kind: "nft" as const, hash: o.nft.tableHash };
  const base = { family: o.family, backend: d.backend };
  if (d.spec) {
    // A rule an earlier release wrote without its counter is in sync (read reports no drift, so no
    // update runs for it), but an apply that runs anyway gives it one: swapped in place, atomically.
    if (ours.length === 1 && isExactly(ours[0], d.spec, d.tag) && ours[0].counter) return undefined;
    const want = renderNftRule(d.spec, d.tag);
    const rule = { spec: d.spec, tag: d.tag };
    if (ours.length === 0) {
      changes.push({ action: "add", backend: d.backend, rule: want });
      return { backend: d.backend, ops: [{ op: "add", ...base, chain: d.spec.chain, rule }], ...(d.adopt ? { guard } : {}) };
    }
    changes.push({ action: "replace", backend: d.backend, from: ours.map((r) => r.text), rule: want });
    const keep = d.spec.helper === undefined ? undefined : helperObjectName(d.spec.helper, d.spec.protocol);
    const freed = nftObjectsFreedBy(o, ours, keep).map((name): LiveOp => ({ op: "delete-object", ...base, name }));
    return { backend: d.backend, ops: [{ op: "replace", ...base, chain: d.spec.chain, rule, old: ours.map(found) }, ...freed], guard };
  }
  const table = nftTableRules(o);
  if (ours.length === 0 && !(table.exists && table.rules === 0)) return undefined;
  const ops: LiveOp[] = ours.map((r) => ({ op: "delete", ...base, chain: r.chain, old: found(r) }));
  // The table goes with its last rule; the guard makes sure no other resource's rule arrived since.
  // Otherwise a helper object goes with the last rule that set it.
  if (table.exists && table.rules === ours.length) ops.push({ op: "delete-table", ...base });
  else {
    ops.push(...nftObjectsFreedBy(o, ours).map((name): LiveOp => ({ op: "delete-object", ...base, name })));
    ops.push(...nftChainsEmptiedBy(o, ours).map((chain): LiveOp => ({ op: "delete-chain", ...base, chain })));
  }
  if (ours.length) changes.push({ action: "remove", backend: d.backend, rules: ours.map((r) => r.text) });
  return { backend: d.backend, ops, guard };
}

function planFile(o: Observed, d: Desired, changes: Change[]): FileWrite | undefined {
  // Where the rule is (or would be) saved; also consulted when persist is off, to take it out.
  const where = persistenceFor(d.backend, o, true);
  if (!where.file) return undefined;
  const before = o.persist.files[where.file];
  const keep = d.spec !== undefined && d.persist;
  let after: string | undefined | null;
  if (d.backend === "nftables") {
    after = editNftablesConf(
      before?.content,
      d.tag,
      keep && d.spec ? { chain: nftChainOf(d.spec), text: renderNftRule(d.spec, d.tag) } : undefined,
      d.adopt,
    );
  } else {
    after = editSavedRules(
      before?.content,
      d.tag,
      keep && d.spec ? { chain: d.spec.chain, line: renderIptablesRule(d.spec, d.tag) } : undefined,
      d.adopt,
    );
  }
  if (after === undefined || after === before?.content || (after === null && !before)) return undefined;
  changes.push(
    keep && d.spec
      ? { action: "save", file: where.file, rule: ruleTextFor(d.backend, d.spec, d.tag) }
      : { action: "unsave", file: where.file },
  );
  return {
    path: where.file,
    expectedSha256: before ? before.sha256 : "absent",
    content: after,
    mode: where.file.startsWith("/etc/sysconfig/") ? "0600" : "0640",
  };
}

/** One line per change, for the `actions` output. */
export function describeChanges(changes: readonly Change[]): string[] {
  return changes.map((c) => {
    switch (c.action) {
      case "add":
        return `added (${c.backend}): ${c.rule}`;
      case "replace":
        return `replaced in place (${c.backend}): ${c.from.join(" | ")} => ${c.rule}`;
      case "remove":
        return `removed (${c.backend}): ${c.rules.join(" | ")}`;
      case "save":
        return `saved in ${c.file}: ${c.rule}`;
      case "unsave":
        return `removed from ${c.file}`;
    }
  });
}

/**
 * The pure heart of the resource: given what the host has and what one resource wants, the
 * changes, compiled into one atomic live batch (iptables-restore --noflush, or nft -f) and at most
 * one saved-ruleset file edit. Tested without a host.
 */
import { NFT_TABLE } from "../../common/markers";
import { persistenceFor, type Persistence, type ResolvedBackend } from "./backend";
import {
  deleteCommandFor,
  insertCommandFor,
  renderIptablesRule,
  NFT_CHAIN_DECLARATIONS,
  nftChainName,
  renderNftRule,
  editSavedRules,
  editNftablesConf,
  type RuleSpec,
} from "./syntax";
import { isExactly, liveRules, nftTableRules, type LiveRule } from "./live";
import { canDropRawTable, chainsEmptiedBy } from "./raw-table";
import type { Observed } from "./observe";

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

/**
 * The live change: one batch applied atomically. `guard` is the state the batch was computed from;
 * the apply script refuses (and the operation observes again) when the host no longer has it.
 */
export interface LiveBatch {
  backend: ResolvedBackend;
  text: string;
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
  file?: FileWrite;
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
  return { changes, ...(live ? { live } : {}), ...(file ? { file } : {}), persistence, ...(ruleText ? { ruleText } : {}) };
}

function planIptables(o: Observed, d: Desired, ours: LiveRule[], changes: Change[]): LiveBatch | undefined {
  const guard = { kind: "iptables" as const, hashes: { ...o.iptables.chainHashes } };
  if (d.spec) {
    if (ours.length === 1 && isExactly(ours[0], d.spec, d.tag)) return undefined;
    const want = renderIptablesRule(d.spec, d.tag);
    if (ours.length === 0) {
      changes.push({ action: "add", backend: d.backend, rule: want });
      // Appending depends on no position: no guard, so parallel creates never conflict. A create that
      // takes over an earlier attempt's rule is guarded all the same: that attempt may still be
      // running on the host (cut off from us while it waited for the lock), and whichever of the two
      // applies second must see the other's rule rather than add a second one.
      return { backend: d.backend, text: restoreBatch([want]), ...(d.adopt ? { guard } : {}) };
    }
    const first = ours[0];
    const lines = ours.map((r) => deleteCommandFor(r.text));
    // Deleting first and inserting at its index puts the new rule exactly where the old one was.
    lines.push(first.chain === d.spec.chain ? insertCommandFor(want, first.index ?? 1) : want);
    changes.push({ action: "replace", backend: d.backend, from: ours.map((r) => r.text), rule: want });
    return { backend: d.backend, text: restoreBatch(lines), guard };
  }
  if (ours.length === 0) return undefined;
  changes.push({ action: "remove", backend: d.backend, rules: ours.map((r) => r.text) });
  const emptied = canDropRawTable(d.backend) ? chainsEmptiedBy(o.iptables.save, new Set(ours.map((r) => r.text))) : [];
  return {
    backend: d.backend,
    text: restoreBatch(ours.map((r) => deleteCommandFor(r.text))),
    guard,
    ...(emptied.length ? { emptiedChains: emptied } : {}),
  };
}

function restoreBatch(lines: string[]): string {
  return ["*raw", ...lines, "COMMIT", ""].join("\n");
}

function planNft(o: Observed, d: Desired, ours: LiveRule[], changes: Change[]): LiveBatch | undefined {
  const guard = { kind: "nft" as const, hash: o.nft.tableHash };
  const t = `inet ${NFT_TABLE}`;
  const ensure = [
    `add table ${t}`,
    `add chain ${t} prerouting { ${NFT_CHAIN_DECLARATIONS.prerouting} }`,
    `add chain ${t} output { ${NFT_CHAIN_DECLARATIONS.output} }`,
  ];
  const deletes = (rs: LiveRule[]) => rs.map((r) => `delete rule ${t} ${r.chain} handle ${r.handle}`);
  if (d.spec) {
    if (ours.length === 1 && isExactly(ours[0], d.spec, d.tag)) return undefined;
    const want = renderNftRule(d.spec, d.tag);
    const chain = nftChainName(d.spec.chain);
    if (ours.length === 0) {
      changes.push({ action: "add", backend: d.backend, rule: want });
      return { backend: d.backend, text: [...ensure, `add rule ${t} ${chain} ${want}`, ""].join("\n"), ...(d.adopt ? { guard } : {}) };
    }
    const [first, ...rest] = ours;
    changes.push({ action: "replace", backend: d.backend, from: ours.map((r) => r.text), rule: want });
    // `replace rule` swaps the rule in place, in the same transaction: never a moment without one.
    const lines =
      first.chain === chain
        ? [`replace rule ${t} ${chain} handle ${first.handle} ${want}`, ...deletes(rest)]
        : [...deletes(ours), ...ensure, `add rule ${t} ${chain} ${want}`];
    return { backend: d.backend, text: [...lines, ""].join("\n"), guard };
  }
  const table = nftTableRules(o);
  if (ours.length === 0 && !(table.exists && table.rules === 0)) return undefined;
  const lines = deletes(ours);
  // The table goes with its last rule; the guard makes sure no other resource's rule arrived since.
  if (table.exists && table.rules === ours.length) lines.push(`delete table ${t}`);
  if (ours.length) changes.push({ action: "remove", backend: d.backend, rules: ours.map((r) => r.text) });
  return { backend: d.backend, text: [...lines, ""].join("\n"), guard };
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
      keep && d.spec ? { chain: nftChainName(d.spec.chain), text: renderNftRule(d.spec, d.tag) } : undefined,
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

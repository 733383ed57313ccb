/**
 * Finding one resource's rule in an observation: the rules carrying its tag in the raw table of the
 * recorded iptables variant, or in this package's nft table. Rules without the tag are never
 * returned, so nothing else is ever changed.
 */
import type { ResolvedBackend } from "../syntax/rule";
import { parseIptablesRule, parseSavedRaw, iptablesLineHasTag } from "../syntax/iptables-rule";
import { helperObjectOf, parseNftHelperObjects, parseNftListing, parseNftRule, renderNftRule } from "../syntax/nft-rule";
import { sameSpec, type RuleSpec } from "../syntax/rule";
import { tagMatches } from "../syntax/tag";
import type { Observed } from "./observed";
import { NFT_TABLE } from "../../../common/markers";
import { nftItems, nftObject } from "../../../common/nft-json";

/** A rule on the host that carries a resource's tag. */
export interface LiveRule {
  /** iptables chain (`PREROUTING`) or nft chain (`prerouting`). */
  chain: string;
  /** iptables: the saved `-A` line. nft: the rule as this package would write its match. */
  text: string;
  /** iptables: 1-based position in the chain. */
  index?: number;
  /** nft: the rule handle. */
  handle?: number;
  spec: RuleSpec;
  /** What the rule has beyond a NOTRACK rule this package writes (empty when none). */
  extras: string[];
  /**
   * Whether the rule counts packets: always with iptables; with nft, whether it has its `counter`
   * (releases before counters wrote none: such a rule is the same rule, without counts).
   */
  counter: boolean;
  /** The identifying comment the rule carries: the tag, or a tag a create takes over. */
  comment: string;
}

/** The rules tagged `tag` in the backend's live ruleset, in ruleset order. */
export function liveRules(o: Observed, backend: ResolvedBackend, tag: string, adopt?: string): LiveRule[] {
  if (backend === "nftables")
    return nftRules(o)
      .filter((r) => r.comment !== undefined && tagMatches(r.comment, tag, adopt))
      .map(toLiveNft(tag));
  const out: LiveRule[] = [];
  for (const r of parseSavedRaw(o.iptables.save)) {
    if (!iptablesLineHasTag(r.line, tag, adopt)) continue;
    const p = parseIptablesRule(r.line, o.family);
    const extras = [...p.extras, ...p.comments.filter((c) => c !== tag).map((c) => `comment "${c}"`)];
    out.push({
      chain: r.chain,
      text: r.line,
      index: r.index,
      spec: p.spec,
      extras,
      counter: true,
      comment: p.comments.find((c) => tagMatches(c, tag, adopt)) ?? tag,
    });
  }
  return out;
}

function nftRules(o: Observed) {
  try {
    return parseNftListing(o.nft.tableJson);
  } catch {
    return [];
  }
}

function toLiveNft(tag: string) {
  return (r: ReturnType<typeof parseNftListing>[number]): LiveRule => {
    const p = parseNftRule(r);
    return {
      chain: r.chain,
      text: renderNftRule(p.spec, r.comment ?? tag, p.counter),
      handle: r.handle,
      spec: p.spec,
      extras: p.extras,
      counter: p.counter,
      comment: r.comment ?? tag,
    };
  };
}

/** Number of rules in this package's nft table (all resources'), and whether the table exists. */
export function nftTableRules(o: Observed): { exists: boolean; rules: number } {
  const exists = o.nft.tableJson.includes('"table"');
  return { exists, rules: nftRules(o).length };
}

/**
 * The `ct helper` objects of this package's table that rules `removed` set and no other rule does
 * (nor the rule going in, which sets `keep`): they go with them. Objects no removed rule set are
 * never touched.
 */
export function nftObjectsFreedBy(o: Observed, removed: readonly LiveRule[], keep?: string): string[] {
  const handles = new Set(removed.map((r) => r.handle));
  const rules = nftRules(o);
  let existing: string[];
  try {
    existing = parseNftHelperObjects(o.nft.tableJson);
  } catch {
    existing = [];
  }
  const still = new Set(rules.filter((r) => !handles.has(r.handle)).map(helperObjectOf));
  const set = new Set(rules.filter((r) => handles.has(r.handle)).map(helperObjectOf));
  return existing.filter((name) => set.has(name) && !still.has(name) && name !== keep);
}

/**
 * The chains of this package's table that go when rules `removed` go and the table stays (other
 * rules are left): a helper chain that held one of them and holds no other rule; and the NOTRACK
 * chains, once no NOTRACK rule is left, when the rules left are helper rules. So the table is again
 * what the rules left alone make of it (the NOTRACK chains are never removed while NOTRACK rules are
 * left, as before helper rules existed).
 */
export function nftChainsEmptiedBy(o: Observed, removed: readonly LiveRule[]): string[] {
  const handles = new Set(removed.map((r) => r.handle));
  const rules = nftRules(o);
  const held = new Set(rules.filter((r) => handles.has(r.handle)).map((r) => r.chain));
  const others = new Set(rules.filter((r) => !handles.has(r.handle)).map((r) => r.chain));
  const helpers = ["helper_prerouting", "helper_output"].filter((c) => held.has(c) && !others.has(c));
  const notrackLeft = others.has("prerouting") || others.has("output");
  const notrackHeld = held.has("prerouting") || held.has("output");
  const notrack = notrackHeld && !notrackLeft && others.size > 0 ? nftChains(o).filter((c) => c === "prerouting" || c === "output") : [];
  return [...helpers, ...notrack];
}

/** The chains of this package's table in the listing. */
function nftChains(o: Observed): string[] {
  try {
    return nftItems(o.nft.tableJson).flatMap((i) => {
      const c = nftObject(i, "chain");
      return c?.table === NFT_TABLE && typeof c.name === "string" ? [c.name] : [];
    });
  } catch {
    return [];
  }
}

/**
 * Whether a live rule is exactly the rule `spec` (nothing extra, same match). A rule without its
 * counter is exactly the rule too: it is not drift (see {@link LiveRule.counter}).
 */
export function isExactly(r: LiveRule, spec: RuleSpec, tag?: string): boolean {
  return r.extras.length === 0 && sameSpec(r.spec, spec) && (tag === undefined || r.comment === tag);
}

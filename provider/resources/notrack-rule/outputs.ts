/**
 * What a NotrackRule reports besides its inputs: how a create or update fills it in, and what
 * `read` reports (the live rule read back as inputs, so a hand edit shows as a diff; what inputs
 * cannot express as `observedDrift`, so the next `up` repairs it; or that the rule is gone). Pure,
 * so it is tested without a host.
 */
import { persistenceFor, persistenceWarnings, type Persistence } from "./host/backend";
import { type ResolvedBackend } from "./syntax/rule";
import { liveRules } from "./host/live";
import type { Observed } from "./host/observed";
import { describeChanges, ruleTextFor, type Plan } from "./plan";
import type { NotrackRuleInputs } from "./schema";
import { specOf, SPEC_KEYS, type RuleSpec } from "./syntax/rule";
import { withoutCounter } from "./syntax/nft-rule";
import { taggedNftLines } from "./syntax/saved-nftables";
import { taggedSavedLines } from "./syntax/saved-iptables";
import type { Assert, ExactNames } from "../../common/output-names";

/**
 * The names of NotrackRule's outputs besides its inputs, once: the constructor's output slots come
 * from it, and the compiler checks it against {@link NotrackRuleOutputs} and the class's declared
 * fields (`resource.ts`).
 */
export const NOTRACK_RULE_OUTPUT_NAMES = ["tag", "resolvedBackend", "ruleText", "persistence", "actions", "warnings"] as const;

/** What a NotrackRule records beyond its inputs. */
export interface NotrackRuleOutputs {
  /** The comment that identifies the rule on the host (also the resource id). */
  tag: string;
  /** Where the rule lives: `iptables-nft`, `iptables-legacy` or `nftables` (what `auto` chose). */
  resolvedBackend: ResolvedBackend;
  /** The rule as written: an iptables-save line, or an nft statement. */
  ruleText: string;
  /** How the rule survives a reboot (`mechanism: "none"` says there is no known way). */
  persistence: Persistence;
  /** What the last create or update changed on the host. */
  actions: string[];
  /**
   * What the operator must know (the runtime sends each to `pulumi.log.warn`): today, every reason
   * a rule with `persist: true` may be gone after a reboot. Empty when there is none.
   */
  warnings: string[];
}

// Compile-time only: the list is exactly the outputs type's keys.
type _NamesAreTheOutputs = Assert<ExactNames<NotrackRuleOutputs, typeof NOTRACK_RULE_OUTPUT_NAMES>>;

/** The outputs of a create or update that carried out plan `p` for `spec`. */
export function outputsOf(tag: string, backend: ResolvedBackend, p: Plan, spec: RuleSpec, persist: boolean): NotrackRuleOutputs {
  return {
    tag,
    resolvedBackend: backend,
    ruleText: p.ruleText ?? ruleTextFor(backend, spec, tag),
    persistence: p.persistence,
    actions: describeChanges(p.changes),
    warnings: persistenceWarnings(p.persistence, persist),
  };
}

/** Output keys that are never inputs (the outputs, and the state version the runtime stores). */
const OUTPUT_KEYS = [...NOTRACK_RULE_OUTPUT_NAMES, "stateVersion"];

/** Inputs that are not part of the rule's match, kept as they were. */
function nonSpecInputs(olds: Record<string, unknown>, outputKeys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...olds };
  for (const k of [...SPEC_KEYS, "observedDrift", ...outputKeys]) delete out[k];
  return out;
}

/** The stored state `read` starts from: inputs and outputs, with the tag and backend known. */
export type Stored = NotrackRuleInputs & Partial<NotrackRuleOutputs> & { tag: string; resolvedBackend: ResolvedBackend };

/** What {@link inspectRule} needs of any raw-table rule kind's stored state (NotrackRule, ConntrackHelperRule). */
export type StoredRule = RuleSpec & { persist: boolean; tag: string; resolvedBackend: ResolvedBackend; actions?: string[] };

/** A NotrackRule as the host has it (see {@link inspectRule}). */
export function inspect(o: Observed, olds: Stored): { inputs: NotrackRuleInputs; outs: NotrackRuleOutputs } | undefined {
  const r = inspectRule(o, olds, OUTPUT_KEYS);
  return r && { inputs: r.inputs as NotrackRuleInputs, outs: r.outs };
}

/**
 * The rule as the host has it, or `undefined` when it is gone: deleted by hand from the live
 * ruleset and from the saved one. A rule missing live but still saved would come back at the next
 * boot under this tag, so it is reported as drift and repaired under this tag instead of being
 * created again under a new one (which would leave the stale saved copy behind).
 */
export function inspectRule(
  o: Observed,
  olds: StoredRule,
  outputKeys: readonly string[],
): { inputs: Record<string, unknown>; outs: NotrackRuleOutputs } | undefined {
  const { tag, resolvedBackend: backend } = olds;
  const ours = liveRules(o, backend, tag);
  const where = persistenceFor(backend, o, true);
  const file = where.file ? o.persist.files[where.file]?.content : undefined;
  const saved = backend === "nftables" ? taggedNftLines(file, tag).map((r) => r.text) : taggedSavedLines(file, tag);
  const drift: string[] = [];
  let spec: RuleSpec;
  let ruleText: string;
  if (ours.length === 0) {
    if (saved.length === 0) return undefined;
    drift.push(`the rule is missing from the live ruleset but still saved in ${where.file}`);
    spec = specOf(olds);
    ruleText = ruleTextFor(backend, spec, tag);
  } else {
    spec = ours[0].spec;
    ruleText = ours[0].text;
    // A rule of the other kind under this tag (NOTRACK where a helper was, or the reverse) is no
    // input of this kind: drift, repaired by the next update.
    if ((spec.helper === undefined) !== (olds.helper === undefined)) {
      drift.push(`the live rule ${spec.helper === undefined ? "is a NOTRACK rule" : `sets the ${spec.helper} helper`}: ${ruleText}`);
      spec = { ...spec, helper: olds.helper };
      if (olds.helper === undefined) delete spec.helper;
    }
    for (const e of ours[0].extras) drift.push(`the live rule has ${e}`);
    if (ours.length > 1) drift.push(`${ours.length} live rules carry the tag ${tag}: ${ours.map((r) => r.text).join(" | ")}`);
  }
  // nft: the saved copy is compared without its counter (a copy saved before counters has none).
  const key = backend === "nftables" ? withoutCounter : (t: string) => t;
  const desired = key(ruleTextFor(backend, specOf(olds), tag));
  if (olds.persist && where.file) {
    if (saved.length === 0) drift.push(`the rule is not saved in ${where.file}`);
    else if (saved.length > 1 || key(saved[0]) !== desired) drift.push(`the copy saved in ${where.file} differs: ${saved.join(" | ")}`);
  } else if (!olds.persist && saved.length > 0) {
    drift.push(`the rule is saved in ${where.file} although persist is false`);
  }
  const inputs = { ...nonSpecInputs({ ...olds }, outputKeys), ...specOf(spec), ...(drift.length ? { observedDrift: drift } : {}) };
  const persistence = persistenceFor(backend, o, olds.persist);
  const outs: NotrackRuleOutputs = {
    tag,
    resolvedBackend: backend,
    ruleText,
    persistence,
    actions: olds.actions ?? [],
    warnings: persistenceWarnings(persistence, olds.persist),
  };
  return { inputs, outs };
}

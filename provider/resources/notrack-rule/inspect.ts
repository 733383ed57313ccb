/**
 * What `read` reports: the live rule read back as inputs (so a hand edit shows as a diff), what
 * inputs cannot express as `observedDrift` (so the next `up` repairs it), or that the rule is gone.
 * Pure, so it is tested without a host.
 */
import { persistenceFor, persistenceWarnings, type ResolvedBackend } from "./backend";
import type { NotrackRuleOutputs } from "./outputs";
import { liveRules } from "./live";
import type { Observed } from "./observe";
import { taggedSavedLines, taggedNftLines, specOf, SPEC_KEYS, type RuleSpec } from "./syntax";
import { ruleTextFor } from "./plan";
import { NOTRACK_RULE_OUTPUT_NAMES } from "./resource";
import type { NotrackRuleInputs } from "./schema";

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
  const desired = ruleTextFor(backend, specOf(olds), tag);
  if (olds.persist && where.file) {
    if (saved.length === 0) drift.push(`the rule is not saved in ${where.file}`);
    else if (saved.length > 1 || saved[0] !== desired) drift.push(`the copy saved in ${where.file} differs: ${saved.join(" | ")}`);
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

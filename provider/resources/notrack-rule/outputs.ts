/** What a NotrackRule reports besides its inputs, and how a create or update fills it in. */
import { persistenceWarnings, type Persistence, type ResolvedBackend } from "./backend";
import { describeChanges, ruleTextFor, type Plan } from "./plan";
import type { RuleSpec } from "./syntax";

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

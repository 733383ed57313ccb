import { randomBytes } from "node:crypto";
import type { CheckFailure } from "../../common/check";
import type { ReadOutcome, ResourceKind } from "../../common/kind";
import { containsUnknown } from "../../common/unknown";
import { variantOf, type Persistence, type ResolvedBackend } from "./backend";
import { assertReadable, converge, decideBackend, type Request } from "./converge";
import { inspect } from "./inspect";
import { lockoutFromInputs } from "./lockout";
import { describeChanges, ruleTextFor, type Plan } from "./plan";
import { observeShared } from "./shared-observe";
import { NOTRACK_RULE_TYPE, NotrackRuleSchema, type NotrackRuleInputs } from "./schema";
import { makeTag, specOf, type RuleSpec } from "./spec";

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
}

function outputsOf(tag: string, backend: ResolvedBackend, p: Plan, spec: RuleSpec): NotrackRuleOutputs {
  return { tag, resolvedBackend: backend, ruleText: p.ruleText ?? ruleTextFor(backend, spec, tag), persistence: p.persistence, actions: describeChanges(p.changes) };
}

function requestOf(op: Request["op"], inputs: NotrackRuleInputs, tag: string, recorded?: ResolvedBackend): Request {
  return {
    op,
    tag,
    spec: specOf(inputs),
    family: inputs.family,
    persist: inputs.persist,
    choice: inputs.backend,
    recorded,
    allowManagementTraffic: inputs.allowManagementTraffic,
  };
}

/** The NotrackRule kind: one NOTRACK rule on one host, identified by its tag. */
export const notrackRuleKind: ResourceKind<NotrackRuleInputs, NotrackRuleOutputs> = {
  type: NOTRACK_RULE_TYPE,
  schema: NotrackRuleSchema,
  // Another family or backend is another ruleset; another name is another tag.
  replaceOn: ["family", "backend", "ruleName"],
  stateVersion: 1,

  validate(inputs: NotrackRuleInputs): CheckFailure[] {
    if (containsUnknown(inputs)) return [];
    const failures: CheckFailure[] = [];
    if (inputs.observedDrift !== undefined) failures.push({ property: "observedDrift", reason: "is set by refresh only; remove it from the program" });
    if (!inputs.allowManagementTraffic) {
      const f = lockoutFromInputs(specOf(inputs), inputs.connection);
      if (f) failures.push({ property: f.property, reason: f.reason });
    }
    return failures;
  },

  async create(inputs) {
    const tag = makeTag(inputs.ruleName, randomBytes(5).toString("hex"));
    const spec = specOf(inputs);
    const { backend, plan: p } = await converge(inputs.connection, requestOf("create", inputs, tag));
    return { id: tag, outs: outputsOf(tag, backend, p, spec) };
  },

  async read(id, olds): Promise<ReadOutcome<NotrackRuleInputs, NotrackRuleOutputs> | undefined> {
    const tag = olds.tag ?? id;
    const conn = olds.connection;
    const o = await observeShared(conn, olds.family, variantOf(olds.resolvedBackend));
    const backend = olds.resolvedBackend ?? decideBackend(conn, { recorded: undefined, choice: olds.backend }, o);
    assertReadable(conn, backend, o);
    return inspect(o, { ...olds, tag, resolvedBackend: backend });
  },

  async update(id, olds, news) {
    const tag = olds.tag ?? id;
    const spec = specOf(news);
    const { backend, plan: p } = await converge(news.connection, requestOf("update", news, tag, olds.resolvedBackend));
    return outputsOf(tag, backend, p, spec);
  },

  async delete(id, olds) {
    const tag = olds.tag ?? id;
    await converge(olds.connection, { ...requestOf("delete", olds, tag, olds.resolvedBackend), spec: undefined, persist: false });
  },
};

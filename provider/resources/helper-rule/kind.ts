import { randomBytes } from "node:crypto";
import type { CheckFailure } from "../../common/check";
import type { ReadOutcome, ResourceKind } from "../../common/kind";
import { HELPER_RULE_TAG_PREFIX, RULE_TAG_PREFIX } from "../../common/markers";
import { containsUnknown } from "../../common/unknown";
import { variantOf } from "../notrack-rule/host/backend";
import { type ResolvedBackend } from "../notrack-rule/syntax/rule";
import { converge, NOTRACK_LANE } from "../notrack-rule/batch/converge";
import { decideReadableBackend, type Request } from "../notrack-rule/batch/members";
import { observeShared } from "../notrack-rule/batch/shared-observe";
import { adoptPrefix, makeTag, tagWithPrefix } from "../notrack-rule/syntax/identity";
import { inspectRule } from "../notrack-rule/outputs";
import { outputsOf } from "../notrack-rule/outputs";
import type { Plan } from "../notrack-rule/plan";
import { crossFieldFailures } from "../notrack-rule/schema";
import { HELPER_INFO, kernelHelperName } from "../notrack-rule/syntax/helpers";
import { specOf, type RuleSpec } from "../notrack-rule/syntax/rule";
import type { Observed } from "../notrack-rule/host/observed";
import { HELPER_RULE_OUTPUT_NAMES } from "./outputs";
import type { ConntrackHelperRuleOutputs } from "./outputs";
import { ConntrackHelperRuleSchema, HELPER_RULE_TYPE, helperFailures, type ConntrackHelperRuleInputs } from "./schema";

/** The rule-name part of a helper rule's tag: `helper:<ruleName>`, so tags start with {@link HELPER_RULE_TAG_PREFIX}. */
function tagName(ruleName: string): string {
  return `${HELPER_RULE_TAG_PREFIX.slice(RULE_TAG_PREFIX.length)}${ruleName}`;
}

/** The tag prefix a create of `inputs` recognises as its own (NotrackRule's identity, under the helper prefix). */
export function helperAdoptPrefixOf(inputs: ConntrackHelperRuleInputs & { owner: string }): string {
  const c = inputs.connection;
  return adoptPrefix({
    owner: inputs.owner,
    ruleName: tagName(inputs.ruleName),
    family: inputs.family,
    backend: inputs.backend,
    host: c.host,
    port: c.port,
  });
}

/** The rule as data: the match and the helper. */
function helperSpecOf(inputs: ConntrackHelperRuleInputs): RuleSpec {
  return specOf(inputs);
}

function requestOf(op: Request["op"], inputs: ConntrackHelperRuleInputs, tag: string, recorded?: ResolvedBackend): Request {
  return {
    op,
    tag,
    spec: helperSpecOf(inputs),
    family: inputs.family,
    persist: inputs.persist,
    choice: inputs.backend,
    recorded,
    // A helper rule leaves packets tracked: the lockout guard does not apply (see helperRefusal).
    allowManagementTraffic: true,
  };
}

/** The helper-specific outputs, of a plan carried out or of an observation. */
function helperOutputs(inputs: Pick<ConntrackHelperRuleInputs, "helper" | "protocol">, p?: Plan, o?: Observed) {
  const name = HELPER_INFO[inputs.helper].module;
  return {
    kernelHelper: kernelHelperName(inputs.helper, inputs.protocol) ?? inputs.helper,
    helperModule: p?.helperModule ?? { name, state: o?.helperModules?.[name]?.state ?? "unknown" },
  };
}

/** Output keys that are never inputs. */
const OUTPUT_KEYS = [...HELPER_RULE_OUTPUT_NAMES, "stateVersion"];

/**
 * The ConntrackHelperRule kind: one rule that attaches a conntrack helper, on one host, identified by
 * its tag. Everything but the schema and the outputs is NotrackRule's: the same per-host batch,
 * backend choice, atomic apply and saved rulesets; the rule as data carries the helper.
 */
export const helperRuleKind: ResourceKind<ConntrackHelperRuleInputs, ConntrackHelperRuleOutputs> = {
  type: HELPER_RULE_TYPE,
  schema: ConntrackHelperRuleSchema,
  replaceOn: ["family", "backend", "ruleName"],
  fixedOnceCreated: ["owner"],
  stateVersion: 1,
  batchLane: NOTRACK_LANE,

  validate(inputs: ConntrackHelperRuleInputs): CheckFailure[] {
    const failures: CheckFailure[] = [];
    if (inputs.observedDrift !== undefined && !containsUnknown(inputs.observedDrift))
      failures.push({ property: "observedDrift", reason: "is set by refresh only; remove it from the program" });
    if (containsUnknown(inputs)) failures.push(...crossFieldFailures(inputs), ...helperFailures(inputs));
    return failures;
  },

  async create(inputs) {
    const adopt = inputs.owner === undefined ? undefined : helperAdoptPrefixOf({ ...inputs, owner: inputs.owner });
    const tag = adopt
      ? tagWithPrefix(adopt, randomBytes(3).toString("hex"))
      : makeTag(tagName(inputs.ruleName), randomBytes(5).toString("hex"));
    const spec = helperSpecOf(inputs);
    const { backend, plan: p } = await converge(inputs.connection, { ...requestOf("create", inputs, tag), ...(adopt ? { adopt } : {}) });
    return { id: tag, outs: { ...outputsOf(tag, backend, p, spec, inputs.persist), ...helperOutputs(inputs, p) } };
  },

  async read(id, olds): Promise<ReadOutcome<ConntrackHelperRuleInputs, ConntrackHelperRuleOutputs> | undefined> {
    const tag = olds.tag ?? id;
    const conn = olds.connection;
    const o = await observeShared(conn, olds.family, variantOf(olds.resolvedBackend));
    const backend = decideReadableBackend(conn, { recorded: olds.resolvedBackend, choice: olds.backend }, o);
    const r = inspectRule(o, { ...olds, tag, resolvedBackend: backend }, OUTPUT_KEYS);
    if (!r) return undefined;
    const inputs = r.inputs as ConntrackHelperRuleInputs;
    return { inputs, outs: { ...r.outs, ...helperOutputs(inputs, undefined, o) } };
  },

  async update(id, olds, news) {
    const tag = olds.tag ?? id;
    const spec = helperSpecOf(news);
    const { backend, plan: p } = await converge(news.connection, requestOf("update", news, tag, olds.resolvedBackend));
    return { ...outputsOf(tag, backend, p, spec, news.persist), ...helperOutputs(news, p) };
  },

  async delete(id, olds) {
    const tag = olds.tag ?? id;
    await converge(olds.connection, { ...requestOf("delete", olds, tag, olds.resolvedBackend), spec: undefined, persist: false });
  },
};

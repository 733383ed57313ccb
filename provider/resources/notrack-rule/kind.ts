import { randomBytes } from "node:crypto";
import type { CheckFailure } from "../../common/check";
import type { ReadOutcome, ResourceKind } from "../../common/kind";
import { containsUnknown } from "../../common/unknown";
import { variantOf } from "./host/backend";
import { type ResolvedBackend } from "./syntax/rule";
import { converge, NOTRACK_LANE } from "./batch/converge";
import { decideReadableBackend, type Request } from "./batch/members";
import { lockoutFromInputs } from "./host/lockout";
import { inspect, outputsOf, type NotrackRuleOutputs } from "./outputs";
import { observeShared } from "./batch/shared-observe";
import { crossFieldFailures, NOTRACK_RULE_TYPE, NotrackRuleSchema, type NotrackRuleInputs } from "./schema";
import { adoptPrefix, makeTag, tagWithPrefix } from "./syntax/identity";
import { specOf } from "./syntax/rule";

/** The tag prefix a create of `inputs` recognises as its own (see {@link adoptPrefix}). */
export function adoptPrefixOf(inputs: NotrackRuleInputs & { owner: string }): string {
  const c = inputs.connection;
  return adoptPrefix({
    owner: inputs.owner,
    ruleName: inputs.ruleName,
    family: inputs.family,
    backend: inputs.backend,
    host: c.host,
    port: c.port,
  });
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
  // The identity is the one the resource was created with; a rename (alias) or a state from an
  // earlier release must show no change.
  fixedOnceCreated: ["owner"],
  stateVersion: 1,
  batchLane: NOTRACK_LANE,

  validate(inputs: NotrackRuleInputs): CheckFailure[] {
    const failures: CheckFailure[] = [];
    if (inputs.observedDrift !== undefined && !containsUnknown(inputs.observedDrift))
      failures.push({ property: "observedDrift", reason: "is set by refresh only; remove it from the program" });
    // With unknown values (preview), the schema checked each known field alone: the combinations
    // are checked here, each when the values it reads are known.
    if (containsUnknown(inputs)) failures.push(...crossFieldFailures(inputs));
    // The lockout guard reads the rule's match and the management endpoint: it runs whenever those
    // are known, whatever else is not yet (a private key from another resource's output).
    const spec = specOf(inputs);
    const conn = inputs.connection as Partial<NotrackRuleInputs["connection"]> | string;
    const endpointKnown =
      typeof conn === "object" &&
      conn !== null &&
      !containsUnknown(conn.host) &&
      !containsUnknown(conn.port) &&
      typeof conn.host === "string" &&
      typeof conn.port === "number";
    if (
      inputs.allowManagementTraffic !== true &&
      !containsUnknown(inputs.allowManagementTraffic) &&
      !containsUnknown(spec) &&
      endpointKnown
    ) {
      const f = lockoutFromInputs(spec, { host: conn.host as string, port: conn.port as number });
      if (f) failures.push({ property: f.property, reason: f.reason });
    }
    return failures;
  },

  async create(inputs) {
    const adopt = inputs.owner === undefined ? undefined : adoptPrefixOf({ ...inputs, owner: inputs.owner });
    const tag = adopt ? tagWithPrefix(adopt, randomBytes(3).toString("hex")) : makeTag(inputs.ruleName, randomBytes(5).toString("hex"));
    const spec = specOf(inputs);
    const { backend, plan: p } = await converge(inputs.connection, { ...requestOf("create", inputs, tag), ...(adopt ? { adopt } : {}) });
    return { id: tag, outs: outputsOf(tag, backend, p, spec, inputs.persist) };
  },

  async read(id, olds): Promise<ReadOutcome<NotrackRuleInputs, NotrackRuleOutputs> | undefined> {
    const tag = olds.tag ?? id;
    const conn = olds.connection;
    const o = await observeShared(conn, olds.family, variantOf(olds.resolvedBackend));
    const backend = decideReadableBackend(conn, { recorded: olds.resolvedBackend, choice: olds.backend }, o);
    return inspect(o, { ...olds, tag, resolvedBackend: backend });
  },

  async update(id, olds, news) {
    const tag = olds.tag ?? id;
    const spec = specOf(news);
    const { backend, plan: p } = await converge(news.connection, requestOf("update", news, tag, olds.resolvedBackend));
    return outputsOf(tag, backend, p, spec, news.persist);
  },

  async delete(id, olds) {
    const tag = olds.tag ?? id;
    await converge(olds.connection, { ...requestOf("delete", olds, tag, olds.resolvedBackend), spec: undefined, persist: false });
  },
};

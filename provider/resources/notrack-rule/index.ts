export { NotrackRule, ruleNameFor, type NotrackRuleArgs } from "./resource";
export {
  NotrackServicePort,
  notrackServicePort,
  expandServicePort,
  type NotrackServicePortArgs,
  type ServicePortRule,
  type ServicePortSpec,
  type ServiceRole,
} from "./service-port";
export {
  NotrackRuleSchema,
  NOTRACK_RULE_TYPE,
  CHAINS as NOTRACK_CHAINS,
  PROTOCOLS as NOTRACK_PROTOCOLS,
  BACKENDS as NOTRACK_BACKENDS,
  type NotrackRuleInputs,
  type NotrackRuleInput,
  type Chain as NotrackChain,
  type Protocol as NotrackProtocol,
  type BackendChoice as NotrackBackendChoice,
} from "./schema";
export {
  plan,
  plan as planNotrackRule,
  describeChanges as describeNotrackChanges,
  type Plan as NotrackRulePlan,
  type Desired as NotrackRuleDesired,
  type Change as NotrackRuleChange,
  type LiveBatch as NotrackLiveBatch,
  type FileWrite as NotrackFileWrite,
} from "./plan";
export { notrackRuleKind } from "./kind";
export type { NotrackRuleOutputs } from "./outputs";
export {
  resolveBackend as resolveNotrackBackend,
  type ResolvedBackend as NotrackResolvedBackend,
  type Persistence as NotrackPersistence,
  type PersistenceMechanism as NotrackPersistenceMechanism,
} from "./backend";
export type { RuleSpec as NotrackRuleSpec } from "./syntax/rule";
export type { PortSpec } from "./syntax/ports";

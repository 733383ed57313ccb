export { ConntrackHelperRule, type ConntrackHelperRuleArgs } from "./resource";
export {
  ConntrackHelperRuleSchema,
  HELPER_RULE_TYPE,
  HELPERS as CONNTRACK_HELPERS,
  HELPER_RULE_PROTOCOLS,
  type ConntrackHelperRuleInputs,
  type ConntrackHelperRuleInput,
  type HelperName as ConntrackHelperName,
} from "./schema";
export { helperRuleKind } from "./kind";
export type { ConntrackHelperRuleOutputs, HelperModuleOutput } from "./outputs";

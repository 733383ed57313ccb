// The public part of each resource folder: the resource classes, their arguments and outputs, and
// the value types those name. Planners, schemas and kinds stay internal.
export { ConntrackHelperSetting, type ConntrackHelperSettingArgs, type HelperSettingOutputs } from "./helper-setting";
export {
  NotrackRule,
  type NotrackRuleArgs,
  type NotrackRuleOutputs,
  NotrackServicePort,
  notrackServicePort,
  type NotrackServicePortArgs,
  type ServiceRole,
  type NotrackChain,
  type NotrackProtocol,
  type NotrackBackendChoice,
  type NotrackResolvedBackend,
  type NotrackPersistence,
  type PortSpec,
} from "./notrack-rule";
export {
  ModuleBlacklist,
  type ModuleBlacklistArgs,
  type ModuleBlacklistOutputs,
  type BlacklistMode,
  type InitramfsPolicy,
} from "./module-blacklist";
export {
  ConntrackHelperRule,
  type ConntrackHelperRuleArgs,
  type ConntrackHelperRuleOutputs,
  type ConntrackHelperName,
  type HelperModuleOutput,
} from "./helper-rule";
export { ConntrackTableSize, type ConntrackTableSizeArgs, type ConntrackTimeoutsArgs, type TableSizeOutputs } from "./table-size";

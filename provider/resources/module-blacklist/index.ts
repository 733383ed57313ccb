export { ModuleBlacklist, type ModuleBlacklistArgs } from "./resource";
export {
  ModuleBlacklistSchema,
  MODULE_BLACKLIST_TYPE,
  DEFAULT_FILE_NAME as DEFAULT_BLACKLIST_FILE_NAME,
  MODULE_NAME,
  canonicalModuleName,
  type ModuleBlacklistInputs,
  type ModuleBlacklistInput,
  type BlacklistMode,
  type InitramfsPolicy,
} from "./schema";
export {
  plan,
  plan as planModuleBlacklist,
  planDelete as planModuleBlacklistDelete,
  detectDrift as detectModuleBlacklistDrift,
  type Plan as ModuleBlacklistPlan,
  type DeletePlan as ModuleBlacklistDeletePlan,
  type Recorded as ModuleBlacklistRecorded,
  type Refusal as ModuleBlacklistRefusal,
  type ModuleStatus,
} from "./plan";
export { planUnload, type UnloadPlan, type UnloadBlocker, type LoadedModule } from "./unload-order";
export { NOTRACK_DEPENDENCIES } from "./notrack-guard";
export { moduleBlacklistKind } from "./kind";
export type { ModuleBlacklistOutputs } from "./outputs";

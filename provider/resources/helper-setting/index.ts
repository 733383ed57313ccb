export { ConntrackHelperSetting, type ConntrackHelperSettingArgs } from "./resource";
export {
  HelperSettingSchema,
  HELPER_SETTING_TYPE,
  DEFAULT_HELPER_FILE_NAME,
  type HelperSettingInputs,
  type HelperSettingDesired,
} from "./schema";
export {
  plan,
  plan as planHelperSetting,
  planDelete as planHelperSettingDelete,
  toggleOf as helperToggleOf,
  EXISTING_FLOWS_NOTE,
  REMOVED_NOTE as HELPER_TOGGLE_REMOVED_NOTE,
  type Plan as HelperSettingPlan,
  type Change as HelperSettingChange,
  type Conflict as HelperSettingConflict,
  type Recorded as HelperSettingRecorded,
  type Refusal as HelperSettingRefusal,
  type Toggle as HelperToggle,
  type ConntrackModule,
  type Persistence as HelperPersistence,
} from "./plan";
export type { HelperSettingOutputs } from "./outputs";
export type { HelperObservation, ObservedFile as HelperObservedFile, OutsideSetting as HelperOutsideSetting } from "./observe";
export { helperSettingKind, helperSettingId } from "./kind";

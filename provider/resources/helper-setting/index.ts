// The folder's public part: the resource, its arguments and outputs (the runtime reaches the kind
// through `kind.ts`, the tests reach the rest by path).
export { ConntrackHelperSetting, type ConntrackHelperSettingArgs } from "./resource";
export type { HelperSettingOutputs } from "./outputs";

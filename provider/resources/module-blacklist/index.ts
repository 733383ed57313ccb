// The folder's public part: the resource, its arguments and outputs, and the value types they name
// (the runtime reaches the kind through `kind.ts`, the tests reach the rest by path).
export { ModuleBlacklist, type ModuleBlacklistArgs } from "./resource";
export type { BlacklistMode, InitramfsPolicy } from "./schema";
export type { ModuleBlacklistOutputs } from "./outputs";

// The folder's public part: the resource, its arguments and outputs (the runtime reaches the kind
// through `kind.ts`, the tests reach the rest by path).
export { ConntrackTableSize, type ConntrackTableSizeArgs, type ConntrackTimeoutsArgs } from "./resource";
export type { TableSizeOutputs } from "./outputs";

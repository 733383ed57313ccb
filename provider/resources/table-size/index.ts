export { ConntrackTableSize, type ConntrackTableSizeArgs, type ConntrackTimeoutsArgs } from "./resource";
export {
  TableSizeSchema,
  TABLE_SIZE_TYPE,
  TIMEOUT_SYSCTLS,
  TIMEOUT_NAMES,
  type TableSizeInputs,
  type TableSizeDesired,
  type TimeoutName,
} from "./schema";
export {
  plan as planTableSize,
  planDelete as planTableSizeDelete,
  kernelBuckets,
  perCoreMax,
  BYTES_PER_ENTRY,
  LARGE_TABLE_SHARE,
  type Plan as TableSizePlan,
  type Change as TableSizeChange,
  type Recorded as TableSizeRecorded,
  type Refusal as TableSizeRefusal,
} from "./plan";
export type { TableSizeOutputs } from "./outputs";
export type { TableObservation } from "./observe";
export { MANAGED_PATHS as TABLE_SIZE_PATHS, type FileRole as TableSizeFileRole } from "./managed-files";
export { tableSizeKind, tableSizeId } from "./kind";

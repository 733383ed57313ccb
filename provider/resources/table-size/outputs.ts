import type { ModuleState } from "../../transport/facts";
import { FILE_ROLES, MANAGED_PATHS } from "./managed-files";
import type { TableObservation } from "./observe";
import { BYTES_PER_BUCKET, BYTES_PER_ENTRY, emptyRecord, liveBuckets, type Plan, type Recorded } from "./plan";
import { TIMEOUT_NAMES, TIMEOUT_SYSCTLS, type TableSizeDesired, type TimeoutName } from "./schema";
import type { Assert, ExactNames } from "../../common/output-names";

/** What a `ConntrackTableSize` reports besides its inputs. */
export interface TableSizeOutputs extends Recorded {
  /** `uname -r` of the host. */
  kernelRelease: string;
  /** How `nf_conntrack` exists on the host. */
  nfConntrack: ModuleState;
  /** The session's network namespace: `initial`, `other` (a container: max and buckets refused) or `unknown`. */
  namespace: "initial" | "other" | "unknown";
  /** Online CPUs (what maxPerCore multiplies). */
  cpus: number;
  /** The host's RAM in bytes (null when unknown). */
  memTotalBytes: number | null;
  /** The max the program resolves to on this host before `onlyRaise` (null: not managed). */
  targetMax: number | null;
  /** The buckets the program resolves to before `onlyRaise` (null: not managed). */
  targetBuckets: number | null;
  /** `nf_conntrack_max` as read back from the host. */
  effectiveMax: number | null;
  /** The hash size as read back (sysfs, else the buckets sysctl). */
  effectiveBuckets: number | null;
  /** Every timeout of this kernel by name, in seconds, as read back. */
  effectiveTimeouts: Partial<Record<TimeoutName, number>>;
  /** Kernel memory of a full table at the effective size (entries × 320 bytes + buckets × 8 bytes). */
  memoryEstimateBytes: number | null;
  /** `nf_conntrack_count` when the operation ran. */
  countAtOperation: number | null;
  /** Managed files that exist on the host. */
  persistedFiles: string[];
  /** What the operator must act on. */
  warnings: string[];
  /** What the operator should know. */
  notes: string[];
  /** What the last create or update changed on the host; empty when it changed nothing. */
  actions: string[];
}

/** Every timeout the host has, under the program's names. */
export function timeoutsByName(o: TableObservation): Partial<Record<TimeoutName, number>> {
  const out: Partial<Record<TimeoutName, number>> = {};
  for (const n of TIMEOUT_NAMES) {
    const v = o.timeouts[TIMEOUT_SYSCTLS[n]];
    if (v) out[n] = v.value;
  }
  return out;
}

/** Outputs for the host as observed, given the plan computed from that same observation. */
export function outputsOf(o: TableObservation, p: Plan, recorded: Recorded, actions: string[]): TableSizeOutputs {
  const max = o.max?.value ?? null;
  const buckets = liveBuckets(o);
  return {
    kernelRelease: o.facts.kernelRelease,
    nfConntrack: o.facts.nfConntrack,
    namespace: o.namespace,
    cpus: o.cpus,
    memTotalBytes: o.memTotalBytes,
    targetMax: p.target.max,
    targetBuckets: p.target.buckets,
    effectiveMax: max,
    effectiveBuckets: buckets,
    effectiveTimeouts: timeoutsByName(o),
    memoryEstimateBytes: max === null ? null : max * BYTES_PER_ENTRY + (buckets ?? 0) * BYTES_PER_BUCKET,
    countAtOperation: o.count,
    persistedFiles: FILE_ROLES.filter((r) => o.files[r].kind === "file").map((r) => MANAGED_PATHS[r]),
    warnings: p.refusal ? [`${p.refusal.message}; ${p.refusal.hint}`, ...p.warnings] : p.warnings,
    notes: p.notes,
    actions,
    previousMax: recorded.previousMax,
    previousBuckets: recorded.previousBuckets,
    previousTimeouts: recorded.previousTimeouts,
    previousFiles: recorded.previousFiles,
  };
}

/**
 * The inputs that describe the host as observed (for `read`): the program's values where the host
 * matches them, otherwise the live values, so that the next diff shows the drift and `up` repairs
 * it. A drifted max given through maxPerCore comes back as an absolute `max`. A managed file that
 * is not what the resource writes flips `persist`.
 */
export function reflectedDesired(p: Plan, olds: TableSizeDesired): TableSizeDesired {
  if (p.refusal) return olds;
  const out: TableSizeDesired = { ...olds, timeouts: { ...olds.timeouts } };
  for (const c of p.changes) {
    if (c.kind === "set-buckets") out.buckets = c.from;
    else if (c.kind === "set-sysctl" && c.key === "nf_conntrack_max") {
      out.max = c.from;
      delete out.maxPerCore;
      delete out.min;
    } else if (c.kind === "set-sysctl") {
      const name = TIMEOUT_NAMES.find((n) => TIMEOUT_SYSCTLS[n] === c.key);
      if (name) out.timeouts[name] = c.from;
    }
  }
  if (p.changes.some((c) => c.kind === "write-file" || c.kind === "remove-file")) out.persist = !olds.persist;
  return out;
}

/** The recorded values carried in stored outputs (anything malformed counts as not recorded). */
export function recordedOf(olds: { readonly [K in keyof Recorded]?: unknown }): Recorded {
  const r = emptyRecord();
  const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null);
  r.previousMax = int(olds.previousMax);
  r.previousBuckets = int(olds.previousBuckets);
  const t = olds.previousTimeouts;
  if (t && typeof t === "object")
    for (const [k, v] of Object.entries(t)) if (/^nf_conntrack_[a-z0-9_]+$/.test(k) && int(v) !== null) r.previousTimeouts[k] = v as number;
  const f = olds.previousFiles as Record<string, unknown> | undefined;
  if (f && typeof f === "object")
    for (const role of FILE_ROLES) r.previousFiles[role] = typeof f[role] === "string" ? (f[role] as string) : null;
  return r;
}

/**
 * The names of ConntrackTableSize's outputs besides its inputs, once: the constructor's output slots come
 * from it, and the compiler checks it against {@link TableSizeOutputs} and the class's declared fields (`resource.ts`).
 */
export const TABLE_SIZE_OUTPUT_NAMES = [
  "kernelRelease",
  "nfConntrack",
  "namespace",
  "cpus",
  "memTotalBytes",
  "targetMax",
  "targetBuckets",
  "effectiveMax",
  "effectiveBuckets",
  "effectiveTimeouts",
  "memoryEstimateBytes",
  "countAtOperation",
  "persistedFiles",
  "previousMax",
  "previousBuckets",
  "previousTimeouts",
  "previousFiles",
  "warnings",
  "notes",
  "actions",
] as const;

// Compile-time only: the list is exactly the outputs type's keys.
type _NamesAreTheOutputs = Assert<ExactNames<TableSizeOutputs, typeof TABLE_SIZE_OUTPUT_NAMES>>;

import {
  blockedRecordRefusal,
  recordActionAtCreate,
  recordActionAtDelete,
  recordNotes,
  type RecordAction,
} from "../../common/previous-record";
import type { Refusal } from "../../common/refusal";
import { SYSCTL_CONF } from "../../transport/conf-dirs";
import {
  FILE_ROLES,
  MANAGED_PATHS,
  foreignLines,
  isManagedContent,
  modprobeFileContent,
  sysctlFileContent,
  udevRuleContent,
  type FileRole,
} from "./managed-files";
import { HASHSIZE_PATH, type TableObservation } from "./observe";
import { TABLE_RECORD_PATH, tableRecordDescribes, type TableRecord } from "./previous-record";
import { TIMEOUT_NAMES, TIMEOUT_SYSCTLS, type TableSizeDesired, type TimeoutName } from "./schema";

/** Kernel memory of one conntrack entry, for the estimate (slab `nf_conntrack` is 300-350 bytes; domain.md §4). */
export const BYTES_PER_ENTRY = 320;
/** Bytes of one hash bucket (a pointer on 64-bit hosts). */
export const BYTES_PER_BUCKET = 8;
/** Share of RAM above which a table is refused unless `allowLargeTable` is set. */
export const LARGE_TABLE_SHARE = 0.1;

/** One change to make on the host. */
export type Change =
  | { kind: "set-sysctl"; key: string; from: number; to: number }
  /** The hash size, through sysfs (`hashsize`) or the `nf_conntrack_buckets` sysctl where that is the writable one. */
  | { kind: "set-buckets"; via: "sysfs" | "sysctl"; from: number; to: number }
  | { kind: "write-file"; role: FileRole; path: string; content: string; why: string; mode?: string }
  | { kind: "remove-file"; role: FileRole; path: string; why: string };

/** What the host had before this resource first changed it; delete puts it back. */
export interface Recorded {
  /** `nf_conntrack_max` before this resource first changed it; null: never changed. */
  previousMax: number | null;
  /** The hash size before this resource first changed it; null: never changed. */
  previousBuckets: number | null;
  /** Timeout sysctls (`nf_conntrack_udp_timeout` ...) before this resource first changed each. */
  previousTimeouts: Record<string, number>;
  /** Content of each managed file before create (null: there was none). */
  previousFiles: Record<FileRole, string | null>;
}

/** Why the program cannot be carried out on this host (one definition for every kind). */
export type { Refusal } from "../../common/refusal";

/** The values the program resolves to on this host. */
export interface Target {
  /** The max asked for (maxPerCore × CPUs or min, or max), before `onlyRaise`; null: not managed. */
  max: number | null;
  /** The buckets asked for (explicit, or derived from max), before `onlyRaise`; null: not managed. */
  buckets: number | null;
  /** Whether `buckets` was derived (only ever raised, as kube-proxy does). */
  bucketsDerived: boolean;
  /** Timeouts asked for, by sysctl name. */
  timeouts: Record<string, number>;
}

/** What {@link plan} decides. */
export interface Plan {
  target: Target;
  /** The values the host has once the changes are made (what outputs call effective). */
  effective: { max: number | null; buckets: number | null; timeouts: Record<string, number> };
  /** Kernel memory of the table at the effective size: entries × 320 bytes + buckets × 8 bytes. */
  memoryEstimateBytes: number | null;
  changes: Change[];
  refusal?: Refusal;
  record: Recorded;
  /** What to do with the host-side record of the previous values (previous-record.ts). */
  recordAction: RecordAction;
  /** Paths of the managed files the plan keeps or writes. */
  persistedFiles: string[];
  warnings: string[];
  notes: string[];
}

/** The hash size the kernel allocates for `n`: it rounds up to a whole number of pages of buckets. */
export function kernelBuckets(n: number, pageSize: number): number {
  const step = Math.max(1, Math.floor(pageSize / BYTES_PER_BUCKET));
  return Math.ceil(n / step) * step;
}

/** The live hash size: sysfs first (the sysctl could lag behind a sysfs change on older kernels). */
export function liveBuckets(o: TableObservation): number | null {
  return o.hashsize?.value ?? o.bucketsSysctl?.value ?? null;
}

/** kube-proxy's formula: max(perCore × CPUs, min). */
export function perCoreMax(perCore: number, min: number, cpus: number): number {
  return Math.max(perCore * cpus, min);
}

/** Nothing recorded yet. */
export function emptyRecord(): Recorded {
  return { previousMax: null, previousBuckets: null, previousTimeouts: {}, previousFiles: { sysctl: null, modprobe: null, udev: null } };
}

/** Bytes in a human unit, for messages. */
export function formatBytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}

/** Resolves the program against the host (CPUs, page size) without judging it. */
export function targetOf(o: TableObservation, d: TableSizeDesired): Target {
  const max = d.max ?? (d.maxPerCore !== undefined && o.cpus > 0 ? perCoreMax(d.maxPerCore, d.min ?? 0, o.cpus) : null);
  const derived = d.buckets === undefined && max !== null;
  const buckets = d.buckets ?? (max !== null ? kernelBuckets(Math.ceil(max / 4), o.pageSize) : null);
  const timeouts: Record<string, number> = {};
  for (const n of TIMEOUT_NAMES) {
    const v = d.timeouts?.[n];
    if (v !== undefined) timeouts[TIMEOUT_SYSCTLS[n]] = v;
  }
  return { max, buckets, bucketsDerived: derived, timeouts };
}

/**
 * Decides what to change so that the host matches the program. Pure: tested without a host.
 *
 * A create that changes something first writes the host-side record of what the host has (under
 * the host lock, before its first change), so that a retry of a create whose response was lost
 * still knows what to put back; an update keeps the one from create.
 *
 * @param recorded the values recorded in state; undefined at create (they are then read from `o`).
 */
export function plan(o: TableObservation, d: TableSizeDesired, recorded?: Recorded): Plan {
  const p = planChanges(o, d, recorded);
  if (recorded || p.refusal || p.changes.length === 0) return p;
  const r = o.previousRecord;
  if (r.kind === "blocked") {
    const current = { max: o.max?.value ?? null, buckets: liveBuckets(o), timeouts: currentTimeouts(o) };
    return {
      ...p,
      effective: current,
      memoryEstimateBytes: current.max === null ? null : current.max * BYTES_PER_ENTRY + (current.buckets ?? 0) * BYTES_PER_BUCKET,
      changes: [],
      refusal: blockedRecordRefusal(TABLE_RECORD_PATH, r.what),
    };
  }
  return { ...p, recordAction: recordActionAtCreate(r, usableRecord(o) !== undefined) };
}

function currentTimeouts(o: TableObservation): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o.timeouts)) out[k] = v.value;
  return out;
}

function planChanges(o: TableObservation, d: TableSizeDesired, recorded?: Recorded): Plan {
  const record: Recorded = recorded ? structuredClone(recorded) : recordAtCreate(o);
  const target = targetOf(o, d);
  const release = o.facts.kernelRelease || "(unknown release)";
  const warnings: string[] = [];
  const notes: string[] = [];
  const curMax = o.max?.value ?? null;
  const curBuckets = liveBuckets(o);
  const curTimeouts: Record<string, number> = {};
  for (const [k, v] of Object.entries(o.timeouts)) curTimeouts[k] = v.value;
  const effective = { max: curMax, buckets: curBuckets, timeouts: { ...curTimeouts } };
  const base = { target, record, recordAction: "keep" as RecordAction, warnings, notes, persistedFiles: [] as string[] };
  const memoryOf = (max: number | null, buckets: number | null) =>
    max === null ? null : max * BYTES_PER_ENTRY + (buckets ?? 0) * BYTES_PER_BUCKET;
  const refuse = (refusal: Refusal): Plan => ({
    ...base,
    effective,
    memoryEstimateBytes: memoryOf(curMax, curBuckets),
    changes: [],
    refusal,
  });

  if (d.maxPerCore !== undefined && o.cpus <= 0) {
    return refuse({
      error: "unsupported",
      command: "getconf _NPROCESSORS_ONLN",
      message: "cannot tell how many CPUs the host has, so maxPerCore cannot be resolved",
      hint: "give max instead of maxPerCore",
    });
  }
  const global = target.max !== null || target.buckets !== null;
  if (global && o.max === null) {
    return refuse({
      error: "unsupported",
      command: "read net.netfilter.nf_conntrack_max",
      message: `net.netfilter.nf_conntrack_max does not exist: nf_conntrack is ${o.facts.nfConntrack === "absent" ? "not available" : "not loaded"} on kernel ${release}`,
      hint: "load it first (modprobe nf_conntrack, or any rule that uses conntrack), then run again",
    });
  }
  // The table size is one value for the whole host: from a container or another network namespace
  // the kernel shows it read-only (since 5.13 and backports), and older kernels let a namespace
  // change the host's value, which is worse. Refused before anything is written.
  if (global && (o.namespace !== "initial" || (o.max !== null && !o.max.writable))) {
    const why =
      o.namespace === "other"
        ? "the session runs in a network namespace other than the host's initial one (a container or `ip netns`)"
        : o.max !== null && !o.max.writable
          ? "net.netfilter.nf_conntrack_max is read-only here (mode 0444: a network namespace other than the host's initial one)"
          : "cannot tell whether the session runs in the host's initial network namespace (/proc/1/ns/net is unreadable: a container, or not root)";
    return refuse({
      error: "unsupported",
      command: "set net.netfilter.nf_conntrack_max / hashsize",
      message: `${why}: nf_conntrack_max and the hash size are global to the host and cannot be set from it`,
      hint: "connect to the host itself (its initial network namespace, e.g. the node, not a pod or container); or drop max/maxPerCore/buckets from this resource and keep only timeouts, which each network namespace has its own of",
    });
  }
  const bucketsWritableVia: "sysfs" | "sysctl" | null =
    o.hashsize?.writable && !o.sysReadOnly ? "sysfs" : o.bucketsSysctl?.writable ? "sysctl" : null;
  let wantBuckets = target.buckets;
  if (wantBuckets !== null && d.buckets !== undefined && kernelBuckets(wantBuckets, o.pageSize) !== wantBuckets) {
    return refuse({
      error: "unsupported",
      command: `set ${HASHSIZE_PATH}`,
      message: `buckets ${wantBuckets} is not what the kernel would allocate: it rounds the hash size up to whole pages (${o.pageSize / BYTES_PER_BUCKET} buckets a page here), so the host would show ${kernelBuckets(wantBuckets, o.pageSize)}`,
      hint: `set buckets to ${kernelBuckets(wantBuckets, o.pageSize)}, or leave it out to derive it from max`,
    });
  }
  if (wantBuckets !== null && curBuckets !== null && wantBuckets !== curBuckets && bucketsWritableVia === null) {
    const raising = wantBuckets > curBuckets;
    if (target.bucketsDerived) {
      // kube-proxy's behaviour: a read-only /sys is a warning and the hash size is left alone.
      if (raising)
        warnings.push(
          `the hash size cannot be changed (${HASHSIZE_PATH} is read-only${o.sysReadOnly ? ": /sys is mounted read-only" : ""}): it stays ${curBuckets}, below max / 4 (${wantBuckets}); lookups get slower as the table fills`,
        );
      wantBuckets = null;
    } else if (!(d.onlyRaise && curBuckets > wantBuckets)) {
      return refuse({
        error: "unsupported",
        command: `set ${HASHSIZE_PATH}`,
        message: `the hash size cannot be changed here: ${HASHSIZE_PATH} is read-only${o.sysReadOnly ? " (/sys is mounted read-only: a container)" : ""} and net.netfilter.nf_conntrack_buckets is not writable`,
        hint: "run against the host itself with a writable /sys, or leave buckets out (a derived hash size is skipped with a warning where it cannot be set)",
      });
    }
  }

  // Timeouts: validated against the sysctls this kernel has.
  for (const [key, want] of Object.entries(target.timeouts)) {
    const name = TIMEOUT_NAMES.find((n) => TIMEOUT_SYSCTLS[n] === key) as TimeoutName;
    const cur = o.timeouts[key];
    if (!cur) {
      return refuse({
        error: "unsupported",
        command: `set net.netfilter.${key}`,
        message: `timeouts.${name}: net.netfilter.${key} does not exist on kernel ${release}${o.max === null ? " (nf_conntrack is not loaded)" : ""}`,
        hint: `remove timeouts.${name}; this host has: ${
          Object.keys(o.timeouts)
            .map((k) => TIMEOUT_NAMES.find((n) => TIMEOUT_SYSCTLS[n] === k) ?? k)
            .join(", ") || "no timeout sysctls"
        }`,
      });
    }
    if (!cur.writable && cur.value !== want && !(d.onlyRaise && cur.value > want)) {
      return refuse({
        error: "unsupported",
        command: `set net.netfilter.${key}`,
        message: `net.netfilter.${key} is read-only here`,
        hint: "connect as root (or sudo: true) to the host or namespace that owns it",
      });
    }
  }

  // Values to set.
  const changes: Change[] = [];
  const lower = (cur: number, want: number) => d.onlyRaise && cur > want;
  if (wantBuckets !== null && curBuckets !== null && wantBuckets !== curBuckets) {
    if (lower(curBuckets, wantBuckets) || (target.bucketsDerived && curBuckets > wantBuckets)) {
      notes.push(
        `the hash size stays ${curBuckets}: it is already above ${wantBuckets}${target.bucketsDerived ? " (a derived hash size is only ever raised, as kube-proxy does)" : " (onlyRaise)"}`,
      );
    } else {
      changes.push({ kind: "set-buckets", via: bucketsWritableVia!, from: curBuckets, to: wantBuckets });
      effective.buckets = wantBuckets;
    }
  }
  if (target.max !== null && curMax !== null && target.max !== curMax) {
    if (lower(curMax, target.max)) notes.push(`nf_conntrack_max stays ${curMax}: it is already above ${target.max} (onlyRaise)`);
    else {
      changes.push({ kind: "set-sysctl", key: "nf_conntrack_max", from: curMax, to: target.max });
      effective.max = target.max;
    }
  }
  for (const [key, want] of Object.entries(target.timeouts)) {
    const cur = curTimeouts[key];
    if (cur === want) continue;
    if (lower(cur, want)) notes.push(`net.netfilter.${key} stays ${cur}: it is already above ${want} (onlyRaise)`);
    else {
      changes.push({ kind: "set-sysctl", key, from: cur, to: want });
      effective.timeouts[key] = want;
    }
  }
  if (
    target.max !== null &&
    d.buckets === undefined &&
    effective.buckets !== null &&
    effective.max !== null &&
    effective.buckets * 4 < effective.max &&
    wantBuckets === null
  ) {
    notes.push(`max is ${effective.max} with ${effective.buckets} buckets: more than 4 entries a bucket on average when full`);
  }

  // Guards on the sizes the changes produce.
  const raisesSize = changes.some((c) => c.kind === "set-buckets" || (c.kind === "set-sysctl" && c.key === "nf_conntrack_max"));
  const memory = memoryOf(effective.max, effective.buckets);
  if (raisesSize && memory !== null && o.memTotalBytes !== null && memory > o.memTotalBytes * LARGE_TABLE_SHARE && !d.allowLargeTable) {
    return refuse({
      error: "unsupported",
      command: "set net.netfilter.nf_conntrack_max",
      message: `a table of ${effective.max} entries and ${effective.buckets} buckets needs about ${formatBytes(memory)} of kernel memory when full (${BYTES_PER_ENTRY} bytes an entry), more than ${LARGE_TABLE_SHARE * 100}% of this host's ${formatBytes(o.memTotalBytes)} RAM`,
      hint: "lower max (or maxPerCore; kube-proxy's per-core sizing reached 3.1 M entries on 96-core hosts, kubernetes #72472), or set allowLargeTable: true if the host is meant to carry it",
    });
  }
  const maxChange = changes.find(
    (c): c is Extract<Change, { kind: "set-sysctl" }> => c.kind === "set-sysctl" && c.key === "nf_conntrack_max",
  );
  if (maxChange && o.count !== null && maxChange.to < o.count) {
    return refuse({
      error: "unsupported",
      command: "set net.netfilter.nf_conntrack_max",
      message: `max ${maxChange.to} is below the ${o.count} connections tracked now: every new connection would be dropped ("nf_conntrack: table full, dropping packet") until enough entries expire`,
      hint: `choose a max above ${o.count} (with headroom), or lower it later when the table is emptier`,
    });
  }
  if (d.maxPerCore !== undefined && target.max !== null)
    notes.push(`max = max(maxPerCore ${d.maxPerCore} × ${o.cpus} CPUs, min ${d.min ?? 0}) = ${target.max}`);

  // Files.
  const fileRefusal = judgeFiles(o, recorded !== undefined);
  if (fileRefusal) return refuse(fileRefusal);
  const modular = o.facts.nfConntrack === "loaded" || o.facts.nfConntrack === "module";
  const wanted: Record<FileRole, string | null> = { sysctl: null, modprobe: null, udev: null };
  if (d.persist) {
    const entries: Array<[string, number]> = [];
    if (target.max !== null && effective.max !== null) entries.push(["nf_conntrack_max", effective.max]);
    // A built-in nf_conntrack reads no modprobe.d option; the buckets sysctl is the only persisted
    // hash size there, where the kernel lets it be written.
    // A derived hash size the host already exceeds is left to the host, not pinned.
    const persistBuckets =
      wantBuckets !== null && effective.buckets !== null && (d.buckets !== undefined || effective.buckets === wantBuckets);
    if (persistBuckets && !modular && o.bucketsSysctl?.writable) entries.push(["nf_conntrack_buckets", effective.buckets!]);
    for (const key of Object.keys(target.timeouts)) entries.push([key, effective.timeouts[key]]);
    if (entries.length) wanted.sysctl = sysctlFileContent(entries);
    if (persistBuckets && modular) wanted.modprobe = modprobeFileContent(effective.buckets!);
    if (persistBuckets && !modular && !o.bucketsSysctl?.writable) {
      warnings.push(
        `nf_conntrack is built into kernel ${release} and its buckets sysctl is read-only: the hash size ${effective.buckets} is lost at reboot unless the kernel command line sets it (add nf_conntrack.hashsize=${effective.buckets})`,
      );
    }
    if (wanted.sysctl && modular) {
      if (o.systemdSysctl) wanted.udev = udevRuleContent(o.systemdSysctl);
      else
        warnings.push(
          `no systemd-sysctl on this host: when nf_conntrack loads after boot, the values in ${MANAGED_PATHS.sysctl} are not applied until \`sysctl --system\` runs (hook it into module loading yourself)`,
        );
    }
  } else {
    notes.push("persist is false: the values are lost when nf_conntrack is reloaded or the host reboots.");
  }
  for (const role of FILE_ROLES) {
    const f = o.files[role];
    const current = f.kind === "file" ? f.content : null;
    const want = wanted[role];
    if (want !== null) base.persistedFiles.push(MANAGED_PATHS[role]);
    if (current === want) continue;
    if (want !== null)
      changes.push({
        kind: "write-file",
        role,
        path: MANAGED_PATHS[role],
        content: want,
        why: current === null ? "persist" : "the file differs from what this resource writes",
      });
    else
      changes.push({
        kind: "remove-file",
        role,
        path: MANAGED_PATHS[role],
        why: d.persist ? "nothing of this kind to persist" : "persist is false",
      });
  }

  for (const s of o.outside) {
    const mine =
      s.key === "hashsize"
        ? wanted.modprobe
          ? effective.buckets
          : null
        : s.key === "nf_conntrack_max"
          ? target.max !== null
            ? effective.max
            : null
          : target.timeouts[s.key] !== undefined
            ? effective.timeouts[s.key]
            : null;
    if (mine === null || s.value === mine) continue;
    const base = s.path.slice(s.path.lastIndexOf("/") + 1);
    const ours = MANAGED_PATHS[s.source === "sysctl" ? "sysctl" : "modprobe"].slice(
      MANAGED_PATHS[s.source === "sysctl" ? "sysctl" : "modprobe"].lastIndexOf("/") + 1,
    );
    const wins = base > ours || s.path === SYSCTL_CONF;
    warnings.push(
      `${s.path}:${s.line} (${s.text.trim()}) sets ${s.key} to ${s.value ?? "an invalid value"}, not ${mine}${wins ? ": it is read after this resource's file and wins at boot" : ""}; remove or change that line`,
    );
  }

  // Record what each first change replaces (never a value that drifted after it).
  for (const c of changes) {
    if (c.kind === "set-buckets" && record.previousBuckets === null) record.previousBuckets = c.from;
    if (c.kind === "set-sysctl") {
      if (c.key === "nf_conntrack_max") {
        if (record.previousMax === null) record.previousMax = c.from;
      } else if (record.previousTimeouts[c.key] === undefined) record.previousTimeouts[c.key] = c.from;
    }
  }
  if (o.count !== null && effective.max !== null && o.count / effective.max > 0.75)
    warnings.push(`the table is ${Math.round((100 * o.count) / effective.max)}% full (${o.count} of ${effective.max})`);
  return { ...base, effective, memoryEstimateBytes: memory, changes, warnings, notes };
}

/**
 * What is recorded at create: the files as found, for delete to put back (the values are recorded
 * by their first change). A host-side record left by an earlier attempt of this create (cut, or its
 * result lost) wins over what the host shows now, which may be that attempt's own work: its files,
 * and each value that attempt changed; unless it is stale ({@link usableRecord}).
 */
export function recordAtCreate(o: TableObservation): Recorded {
  const r = emptyRecord();
  const rec = usableRecord(o);
  for (const role of FILE_ROLES) {
    const f = o.files[role];
    r.previousFiles[role] = rec ? rec.files[role] : f.kind === "file" ? f.content : null;
  }
  if (!rec) return r;
  const buckets = liveBuckets(o);
  if (rec.max !== null && o.max !== null && o.max.value !== rec.max) r.previousMax = rec.max;
  if (rec.buckets !== null && buckets !== null && buckets !== rec.buckets) r.previousBuckets = rec.buckets;
  for (const [key, value] of Object.entries(rec.timeouts)) {
    const cur = o.timeouts[key];
    if (cur && cur.value !== value) r.previousTimeouts[key] = value;
  }
  return r;
}

/** The host-side record when it still describes the host before this package's first change, else undefined. */
export function usableRecord(o: TableObservation): TableRecord | undefined {
  const r = o.previousRecord;
  return r.kind === "record" && tableRecordDescribes(r, o.files) ? r : undefined;
}

/** Notes and warnings about the host-side record at create (said once, in the create's outputs). */
export function recordNotesAtCreate(o: TableObservation): { notes: string[]; warnings: string[] } {
  return recordNotes(o.previousRecord, usableRecord(o) !== undefined, TABLE_RECORD_PATH, "a managed file");
}

function judgeFiles(o: TableObservation, recorded: boolean): Refusal | undefined {
  for (const role of FILE_ROLES) {
    const f = o.files[role];
    const path = MANAGED_PATHS[role];
    if (f.kind === "other")
      return {
        error: "conflict",
        command: `write ${path}`,
        message: `${path} is a ${f.what}; this resource writes only regular files it owns`,
        hint: "remove it by hand if it is not needed",
      };
    if (f.kind === "unreadable")
      return {
        error: "conflict",
        command: `read ${path}`,
        message: `${path} exists but cannot be read`,
        hint: "connect as root or set sudo: true",
      };
    if (!recorded && f.kind === "file" && !isManagedContent(f.content)) {
      const foreign = foreignLines(f.content);
      if (foreign.length) {
        return {
          error: "conflict",
          command: `write ${path}`,
          message: `${path} already exists and holds settings this resource does not manage (line ${foreign[0].line}: ${foreign[0].text.trim()})`,
          hint: "move those settings to another file; this resource owns that path",
        };
      }
    }
  }
  return undefined;
}

/** Changes that put back what the host had before this resource changed it (delete). */
export function planDelete(o: TableObservation, recorded: Recorded): { changes: Change[]; recordAction: RecordAction; warnings: string[] } {
  const changes: Change[] = [];
  const warnings: string[] = [];
  const curBuckets = liveBuckets(o);
  const via: "sysfs" | "sysctl" | null = o.hashsize?.writable && !o.sysReadOnly ? "sysfs" : o.bucketsSysctl?.writable ? "sysctl" : null;
  if (recorded.previousBuckets !== null && curBuckets !== null && curBuckets !== recorded.previousBuckets) {
    if (via) changes.push({ kind: "set-buckets", via, from: curBuckets, to: recorded.previousBuckets });
    else warnings.push(`the hash size cannot be put back to ${recorded.previousBuckets} (not writable here)`);
  }
  if (recorded.previousMax !== null && o.max !== null && o.max.value !== recorded.previousMax) {
    if (o.max.writable) changes.push({ kind: "set-sysctl", key: "nf_conntrack_max", from: o.max.value, to: recorded.previousMax });
    else warnings.push(`nf_conntrack_max cannot be put back to ${recorded.previousMax} (read-only here)`);
  }
  for (const [key, prev] of Object.entries(recorded.previousTimeouts)) {
    const cur = o.timeouts[key];
    if (cur && cur.value !== prev) changes.push({ kind: "set-sysctl", key, from: cur.value, to: prev });
  }
  for (const role of FILE_ROLES) {
    const f = o.files[role];
    const path = MANAGED_PATHS[role];
    if (f.kind === "other" || f.kind === "unreadable") {
      warnings.push(`${path} is no longer a regular file this resource can read; it was left alone`);
      continue;
    }
    const current = f.kind === "file" ? f.content : null;
    const before = recorded.previousFiles[role];
    if (current === before) continue;
    if (before === null) changes.push({ kind: "remove-file", role, path, why: "delete: there was no file before create" });
    else changes.push({ kind: "write-file", role, path, content: before, why: "delete: restore the content it had before create" });
  }
  const r = o.previousRecord;
  if (r.kind === "blocked") warnings.push(`${TABLE_RECORD_PATH} is ${r.what}, not this package's record; it was left alone`);
  return { changes, recordAction: recordActionAtDelete(r), warnings };
}

/** Human-readable account of a change, for the `actions` output. */
export function describeChange(c: Change): string {
  switch (c.kind) {
    case "set-sysctl":
      return `set net.netfilter.${c.key} ${c.from} -> ${c.to}`;
    case "set-buckets":
      return `set the hash size ${c.from} -> ${c.to} (${c.via === "sysfs" ? HASHSIZE_PATH : "net.netfilter.nf_conntrack_buckets"})`;
    case "write-file":
      return `wrote ${c.path} (${c.why})`;
    case "remove-file":
      return `removed ${c.path} (${c.why})`;
  }
}

import type { Refusal } from "../../common/refusal";
import type { HelperSettingDesired } from "./schema";
import { foreignSettings, helperOptionLines, isManagedContent, managedFileContent, type ToggleValue } from "./managed-file";
import { HELPER_PARAM_PATH, HELPER_SYSCTL_PATH, managedPath, type HelperObservation, type OutsideSetting } from "./observe";
import {
  blockedRecordRefusal,
  previousRecordPath,
  recordActionAtCreate,
  recordActionAtDelete,
  recordNotes,
  type RecordAction,
} from "../../common/previous-record";
import { recordDescribes, type PreviousRecord } from "./previous-record";

/**
 * Whether the host's kernel has the automatic-assignment toggle:
 * - `present`: kernels 3.5 to 5.19 (and vendor kernels that kept it);
 * - `removed`: Linux 6.0 removed it; helpers attach only through explicit rules;
 * - `too-old`: before 3.5 there was no toggle: helpers attach to every flow on their port;
 * - `undetermined`: neither the files nor the version tell (unparseable `uname -r`).
 */
export type Toggle = "present" | "removed" | "too-old" | "undetermined";

/** How `nf_conntrack` exists on the host, as outputs report it. */
export type ConntrackModule = "loaded" | "builtin" | "not-loaded" | "absent";

/**
 * How the value survives a module reload or reboot:
 * - `modprobe.d`: the managed file holds the option, read whenever `nf_conntrack` loads, and no
 *   other modprobe.d file read after it sets another value;
 * - `overridden-modprobe.d`: the managed file is written, but a modprobe.d file read after it sets
 *   another value, and modprobe applies the last one: the value does NOT survive a reload or reboot;
 * - `kernel-command-line`: `nf_conntrack` is built in and the kernel command line sets the value;
 * - `sysctl.d`: `nf_conntrack` is built in and sysctl.d entries (found, not written by this resource) set it;
 * - `not-persisted`: `persist` is false;
 * - `impossible-builtin`: `nf_conntrack` is built in, modprobe.d is never read for it, and the
 *   kernel command line does not set the wanted value;
 * - `not-applicable`: the kernel has no toggle.
 */
export type Persistence =
  | "modprobe.d"
  | "overridden-modprobe.d"
  | "kernel-command-line"
  | "sysctl.d"
  | "not-persisted"
  | "impossible-builtin"
  | "not-applicable";

/** One change to make on the host. */
export type Change =
  | { kind: "set-live"; from: ToggleValue; to: ToggleValue }
  | { kind: "set-module-parameter"; from: "Y" | "N"; to: "Y" | "N" }
  /** `mode` applies to a file that does not exist yet (an existing file keeps its own). */
  | { kind: "write-file"; path: string; content: string; why: string; mode?: string }
  | { kind: "remove-file"; path: string; why: string };

/**
 * The host's values before this resource changed them; delete puts them back. They are fixed at
 * create and never taken from a later observation: a value seen after create is this resource's
 * own or someone's drift, never what the host had before. A create that retries an earlier attempt
 * (cut, or its result lost) takes them from the host-side record that attempt wrote before its
 * first change (previous-record.ts), not from what the attempt left.
 */
export interface Recorded {
  /**
   * Live `nf_conntrack_helper` before this resource first changed it. When `nf_conntrack` was not
   * loaded at create, the value it would have got at its next load without this resource (see
   * {@link loadValueWithoutManagedFile}). Null: unknown (no toggle, or state written before this
   * rule): delete then leaves the live value alone.
   */
  previousLiveValue: ToggleValue | null;
  /** The module parameter before this resource first changed it, by the same rule as {@link Recorded.previousLiveValue}. */
  previousModuleParameter: "Y" | "N" | null;
  /** The managed file's content before create; null: there was no file. */
  previousFileContent: string | null;
  /** Its permission bits (octal), so that delete restores them too; null when there was no file. */
  previousFileMode: string | null;
}

/** Why the program cannot be carried out on this host (one definition for every kind). */
export type { Refusal } from "../../common/refusal";

/** A setting of the toggle outside the managed file, judged against the program. */
export interface Conflict extends OutsideSetting {
  /** It sets another value than the program (or, where the toggle is gone, any value: it is stale). */
  contradicts: boolean;
  /** A modprobe option read after the managed file: its value is the one the module gets. */
  overridesManagedFile: boolean;
}

/** What the apply script does with the host-side record of the previous values (common/previous-record.ts). */
export type { RecordAction } from "../../common/previous-record";

/** What {@link plan} decides. */
export interface Plan {
  toggle: Toggle;
  module: ConntrackModule;
  /** Changes in the order they are made; empty when the host is already as asked. */
  changes: Change[];
  /** Set when the program cannot be carried out; `changes` is then empty. */
  refusal?: Refusal;
  /** The values to record (carried from state, filled in by the first change of a value). */
  record: Recorded;
  /** What to do with the host-side record of these values. */
  recordAction: RecordAction;
  persistence: Persistence;
  conflicts: Conflict[];
  /** Things the operator must act on. */
  warnings: string[];
  /** Things the operator should know. */
  notes: string[];
}

/** Said on every host that has the toggle (seed notes; "Secure use of iptables and connection tracking helpers"). */
export const EXISTING_FLOWS_NOTE =
  "Flows that already got a helper keep it: the toggle only decides for new connections (flush them with `conntrack -D` or wait for them to expire).";

/** Said on hosts where the toggle is gone. */
export const REMOVED_NOTE =
  "Automatic helper assignment does not exist on this kernel (removed in Linux 6.0): helpers attach only to flows that an explicit rule selects (iptables `-j CT --helper <name>` in the raw table, nftables `ct helper set`).";

/** The module state as outputs name it. */
export function moduleState(o: HelperObservation): ConntrackModule {
  const m = o.facts.nfConntrack;
  return m === "module" ? "not-loaded" : m;
}

/**
 * Whether the kernel has the toggle, decided by what the host shows before its version: the sysctl
 * or module parameter when `nf_conntrack` is in, the module's declared parameters (modinfo) when it
 * is not. The version decides only when neither is available (vendor kernels backport and remove).
 */
export function toggleOf(o: HelperObservation): Toggle {
  if (o.sysctlPresent || o.moduleParameter !== null) return "present";
  const { major, minor } = o.facts.kernel;
  if (major === 0) return "undetermined";
  const before = (ma: number, mi: number) => major < ma || (major === ma && minor < mi);
  if (before(3, 5)) return "too-old";
  const inKernel = o.facts.nfConntrack === "loaded" || o.facts.nfConntrack === "builtin";
  if (inKernel) return "removed";
  if (o.modinfoHasToggle !== null) return o.modinfoHasToggle ? "present" : "removed";
  return before(6, 0) ? "present" : "removed";
}

/**
 * The value `nf_conntrack` gets when it loads, from the host's own configuration without the file
 * named `fileName`: the last modprobe.d option of the other files (modprobe applies the last), else
 * the kernel command line, else the kernel's default (1 before Linux 4.7, 0 since; domain.md §1).
 * Null when the kernel has no toggle or its version is unknown.
 */
export function loadValueWithoutManagedFile(o: HelperObservation): ToggleValue | null {
  const fromModprobe = o.outside.filter((s) => s.source === "modprobe" && s.value !== null).at(-1);
  if (fromModprobe) return fromModprobe.value;
  const fromCmdline = o.outside.filter((s) => s.source === "cmdline" && s.value !== null).at(-1);
  if (fromCmdline) return fromCmdline.value;
  const { major, minor } = o.facts.kernel;
  if (major === 0) return null;
  return major < 4 || (major === 4 && minor < 7) ? 1 : 0;
}

/**
 * The values recorded at create: what the host had before this resource changed anything. Where
 * `nf_conntrack` is not loaded there is no live value yet; the one it would get at its next load
 * without this resource is what the host "had", and what delete puts back once it is loaded.
 *
 * A host-side record left by an earlier attempt of this create (cut, or its result lost) wins over
 * what the host shows now, which may be that attempt's own work; unless it is stale
 * ({@link usableRecord}).
 */
export function recordAtCreate(o: HelperObservation): Recorded {
  const r = usableRecord(o);
  const live = r ? r.live : o.live;
  const param = r ? r.moduleParameter : o.moduleParameter;
  const file = r ? r.file : o.file;
  const atLoad = live === null && param === null && toggleOf(o) === "present" ? loadValueWithoutManagedFile(o) : null;
  return {
    previousLiveValue: live ?? atLoad,
    previousModuleParameter: param ?? (atLoad === null ? null : yn(atLoad)),
    previousFileContent: file.kind === "file" ? file.content : null,
    previousFileMode: file.kind === "file" ? (file.mode ?? null) : null,
  };
}

/** The host-side record when it still describes the host before this package's first change, else undefined. */
export function usableRecord(o: HelperObservation): Extract<PreviousRecord, { kind: "record" }> | undefined {
  const r = o.previousRecord;
  return r.kind === "record" && recordDescribes(r, o.file) ? r : undefined;
}

/** Notes and warnings about the host-side record at create (said once, in the create's outputs). */
export function recordNotesAtCreate(o: HelperObservation, fileName: string): { notes: string[]; warnings: string[] } {
  return recordNotes(o.previousRecord, usableRecord(o) !== undefined, previousRecordPath(fileName), managedPath(fileName));
}

const yn = (v: ToggleValue): "Y" | "N" => (v === 1 ? "Y" : "N");

/**
 * Decides what to change so that the host matches the program. Pure: tested without a host.
 *
 * In steps, as ModuleBlacklist's planner: what is refused before anything ({@link refusalOf}), a
 * kernel without the toggle ({@link planRemovedToggle}), then where it exists the live values
 * ({@link liveChanges}), how the value is persisted ({@link persistenceOf}) and the file change
 * that persistence needs ({@link fileChange}).
 *
 * @param recorded the values recorded in state; undefined at create (they are then read from `o`).
 */
export function plan(o: HelperObservation, desired: HelperSettingDesired, recorded?: Recorded): Plan {
  const p = planChanges(o, desired, recorded);
  // Only a create that changes something writes the record: an update keeps the one from create,
  // and a create that changes nothing has nothing to remember.
  if (recorded || p.refusal || p.changes.length === 0) return p;
  const r = o.previousRecord;
  if (r.kind === "blocked") {
    const refusal = blockedRecordRefusal(previousRecordPath(desired.fileName), r.what);
    return { ...p, changes: [], persistence: "not-applicable", refusal };
  }
  return { ...p, recordAction: recordActionAtCreate(r, usableRecord(o) !== undefined) };
}

function planChanges(o: HelperObservation, desired: HelperSettingDesired, recorded?: Recorded): Plan {
  const toggle = toggleOf(o);
  const module = moduleState(o);
  const want: ToggleValue = desired.enabled ? 1 : 0;
  const record: Recorded = recorded ? { ...recorded } : recordAtCreate(o);
  const base = {
    toggle,
    module,
    record,
    recordAction: "keep" as RecordAction,
    conflicts: judgeConflicts(o, toggle, want, desired),
    warnings: [] as string[],
    notes: [] as string[],
  };

  const refusal = refusalOf(o, toggle, desired, recorded);
  if (refusal) return { ...base, changes: [], refusal, persistence: "not-applicable" };

  const path = managedPath(desired.fileName);
  const current = o.file.kind === "file" ? o.file.content : null;
  // A file this resource wrote that someone replaced by hand (its header is gone): the header said
  // edits are reverted, but say which settings go with it.
  const handEdits = recorded && current !== null && !isManagedContent(current) ? foreignSettings(current) : [];
  const reverted = handEdits.length
    ? `${path} was replaced by hand; the settings in it were reverted: ${handEdits.map((l) => l.text.trim()).join("; ")}`
    : null;

  if (toggle === "removed") return { ...base, ...planRemovedToggle(path, current, base.conflicts, reverted) };

  // toggle === "present"
  const notes = [EXISTING_FLOWS_NOTE];
  if (desired.enabled) {
    notes.push(
      "enabled: true lets every loaded helper attach to all flows on its port; explicit CT --helper rules are the secure alternative.",
    );
  }
  const live = liveChanges(o, module, want);
  const persist = persistenceOf(o, desired, module, base.conflicts, want);
  const file = fileChange(path, current, persist.wanted, persist.removeWhy, recorded);
  const warnings = [...live.warnings, ...persist.warnings];
  if (file && reverted) warnings.push(reverted);
  const ctx = {
    ours: desired.fileName,
    want,
    persisting: persist.persistence === "modprobe.d" || persist.persistence === "overridden-modprobe.d",
    builtin: module === "builtin",
  };
  for (const c of base.conflicts) if (c.contradicts) warnings.push(describeConflict(c, ctx));
  return {
    ...base,
    changes: file ? [...live.changes, file] : live.changes,
    persistence: persist.persistence,
    warnings,
    notes: [...notes, ...live.notes, ...persist.notes],
  };
}

/**
 * What is refused before anything changes: a kernel without the toggle or whose version is
 * unknown, a managed path that is not a regular file this resource can read, a file at create that
 * holds settings this resource does not manage, and `enabled: true` where Linux 6.0 removed the toggle.
 */
function refusalOf(o: HelperObservation, toggle: Toggle, desired: HelperSettingDesired, recorded: Recorded | undefined): Refusal | null {
  const path = managedPath(desired.fileName);
  const release = o.facts.kernelRelease || "(unknown release)";
  if (toggle === "too-old") {
    return {
      error: "unsupported",
      command: "set net.netfilter.nf_conntrack_helper",
      message: `kernel ${release} is older than 3.5 and has no nf_conntrack_helper toggle: every loaded helper attaches to all flows on its port`,
      hint: "upgrade the kernel to 3.5 or later, or keep helper modules (nf_conntrack_ftp, ...) from loading with a ModuleBlacklist",
    };
  }
  if (toggle === "undetermined") {
    return {
      error: "unsupported",
      command: "uname -r",
      message: `cannot tell whether kernel "${release}" has the nf_conntrack_helper toggle: the sysctl and module parameter are absent and the release is not a version number`,
      hint: "load nf_conntrack (modprobe nf_conntrack) so that the toggle shows, then run again",
    };
  }
  // The path is the operator's choice; whatever is there that we did not write must survive.
  if (o.file.kind === "other") {
    return {
      error: "conflict",
      command: `write ${path}`,
      message: `${path} is a ${o.file.what}; this resource writes only regular files it owns`,
      hint: "choose another fileName, or remove it by hand if it is not needed",
    };
  }
  if (o.file.kind === "unreadable") {
    return {
      error: "conflict",
      command: `read ${path}`,
      message: `${path} exists but cannot be read`,
      hint: "connect as root or set sudo: true",
    };
  }
  const current = o.file.kind === "file" ? o.file.content : null;
  if (!recorded && current !== null && !isManagedContent(current)) {
    const foreign = foreignSettings(current);
    if (foreign.length > 0) {
      return {
        error: "conflict",
        command: `write ${path}`,
        message: `${path} already exists and holds settings this resource does not manage (line ${foreign[0].line}: ${foreign[0].text.trim()})`,
        hint: "choose another fileName, or move those settings to another file; a file holding only comments and nf_conntrack_helper options is taken over and restored on delete",
      };
    }
  }
  if (toggle === "removed" && desired.enabled) {
    return {
      error: "unsupported",
      command: "set net.netfilter.nf_conntrack_helper=1",
      message: `kernel ${release} has no automatic conntrack helper assignment (removed in Linux 6.0): enabled: true cannot be carried out`,
      hint: 'explicit rules are the only way to attach a helper on this kernel: add a ConntrackHelperRule for each helper really needed (e.g. helper: "ftp", protocol: "tcp", destinationPort: 21, which writes iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp, or nftables `ct helper set`), and set enabled: false',
    };
  }
  return null;
}

/** A kernel without the toggle (Linux 6.0 and later), `enabled: false`: remove a stale option file, warn about stale lines elsewhere. */
function planRemovedToggle(
  path: string,
  current: string | null,
  conflicts: readonly Conflict[],
  reverted: string | null,
): Pick<Plan, "changes" | "persistence" | "notes" | "warnings"> {
  const changes: Change[] = [];
  if (current !== null) {
    const stale = helperOptionLines(current);
    const why = stale.length
      ? `stale option (this kernel ignores it: "unknown parameter 'nf_conntrack_helper' ignored"): ${stale.map((s) => `line ${s.line}`).join(", ")}`
      : "this kernel has no toggle to persist";
    changes.push({ kind: "remove-file", path, why });
  }
  const warnings = staleWarnings(conflicts);
  if (reverted && changes.length) warnings.unshift(reverted);
  return { changes, persistence: "not-applicable", notes: [REMOVED_NOTE], warnings };
}

/** The live value and the module parameter, where the toggle exists. */
function liveChanges(
  o: HelperObservation,
  module: ConntrackModule,
  want: ToggleValue,
): { changes: Change[]; warnings: string[]; notes: string[] } {
  const changes: Change[] = [];
  const warnings: string[] = [];
  const notes: string[] = [];
  if (o.live !== null) {
    // Never record o.live here: at create recordAtCreate already has it, later it is drift.
    if (o.live !== want) changes.push({ kind: "set-live", from: o.live, to: want });
  } else if (module === "loaded" || module === "builtin") {
    warnings.push(
      `${HELPER_SYSCTL_PATH} cannot be read although nf_conntrack is in the kernel (a read-only /proc, or a session outside the initial network namespace?): the live value was not set`,
    );
  } else {
    notes.push(
      module === "absent"
        ? "nf_conntrack is not available on this host (neither loaded, built in nor installed as a module): the persisted value takes effect if it is ever installed and loaded."
        : "nf_conntrack is not loaded: there is no live value to set; the persisted value takes effect when the module loads.",
    );
  }
  // The module parameter is the default of network namespaces created later (containers): keep it
  // in step so that they do not come up with the other value.
  if (o.moduleParameter !== null && o.moduleParameter !== yn(want)) {
    changes.push({ kind: "set-module-parameter", from: o.moduleParameter, to: yn(want) });
  }
  return { changes, warnings, notes };
}

/**
 * How the value survives a reload or reboot, and the managed file's content that needs (null: no
 * file; `removeWhy` says why an existing one goes).
 */
function persistenceOf(
  o: HelperObservation,
  desired: HelperSettingDesired,
  module: ConntrackModule,
  conflicts: readonly Conflict[],
  want: ToggleValue,
): { persistence: Persistence; wanted: string | null; removeWhy: string; warnings: string[]; notes: string[] } {
  const warnings: string[] = [];
  const notes: string[] = [];
  if (!desired.persist) {
    notes.push("persist is false: the value is lost when nf_conntrack is reloaded or the host reboots.");
    return { persistence: "not-persisted", wanted: null, removeWhy: "persist is false", warnings, notes };
  }
  if (module !== "builtin") {
    // A later file's contradicting option wins at load: saying "modprobe.d" would be a lie.
    const persistence = conflicts.some((c) => c.overridesManagedFile) ? "overridden-modprobe.d" : "modprobe.d";
    return { persistence, wanted: managedFileContent(want), removeWhy: "persist is false", warnings, notes };
  }
  const removeWhy = "nf_conntrack is built into the kernel: modprobe.d options are never read for it";
  const cmdline = o.outside.filter((s) => s.source === "cmdline").at(-1);
  const sysctl = o.outside.filter((s) => s.source === "sysctl");
  let persistence: Persistence;
  if (cmdline?.value === want) {
    persistence = "kernel-command-line";
    notes.push(`nf_conntrack is built into the kernel; the kernel command line (${cmdline.text}) persists the value.`);
  } else if (sysctl.length > 0 && sysctl.every((s) => s.value === want)) {
    // A built-in nf_conntrack has its sysctl from boot on, so systemd-sysctl can set it.
    persistence = "sysctl.d";
    notes.push(
      `nf_conntrack is built into the kernel; ${sysctl.map((s) => s.path).join(", ")} persists the value (systemd-sysctl at boot).`,
    );
  } else {
    persistence = "impossible-builtin";
    const release = o.facts.kernelRelease || "(unknown release)";
    warnings.push(
      `nf_conntrack is built into kernel ${release}: an /etc/modprobe.d option has no effect, so the value was set live only and is lost at reboot; persist it on the kernel command line: add nf_conntrack.nf_conntrack_helper=${want} (e.g. to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub).`,
    );
  }
  return { persistence, wanted: null, removeWhy, warnings, notes };
}

/** The change that makes the managed file hold `wanted` (null: no file), or null when it does. */
function fileChange(
  path: string,
  current: string | null,
  wanted: string | null,
  removeWhy: string,
  recorded: Recorded | undefined,
): Change | null {
  if (current === wanted) return null;
  if (wanted !== null) {
    const why =
      current === null
        ? "persist the value for the next load of nf_conntrack"
        : isManagedContent(current) || recorded
          ? "the file differs from what this resource wrote"
          : "take over the file (its previous content is restored on delete)";
    return { kind: "write-file", path, content: wanted, why };
  }
  return current !== null ? { kind: "remove-file", path, why: removeWhy } : null;
}

/**
 * Changes that put back what the host had before create (delete), and the removal of the host-side
 * record (after them, so that a delete cut before it finished still finds it).
 */
export function planDelete(
  o: HelperObservation,
  fileName: string,
  recorded: Recorded,
): { changes: Change[]; recordAction: RecordAction; warnings: string[] } {
  const changes: Change[] = [];
  const warnings: string[] = [];
  const path = managedPath(fileName);
  // Where the toggle is gone there is nothing live to put back.
  if (toggleOf(o) === "present") {
    if (o.live !== null && recorded.previousLiveValue !== null && o.live !== recorded.previousLiveValue) {
      changes.push({ kind: "set-live", from: o.live, to: recorded.previousLiveValue });
    }
    const p = recorded.previousModuleParameter;
    if (o.moduleParameter !== null && p !== null && o.moduleParameter !== p) {
      changes.push({ kind: "set-module-parameter", from: o.moduleParameter, to: p });
    }
  }
  if (o.file.kind === "other" || o.file.kind === "unreadable") {
    warnings.push(`${path} is no longer a regular file this resource can read; it was left alone`);
  } else {
    const current = o.file.kind === "file" ? o.file.content : null;
    const before = recorded.previousFileContent;
    if (current !== before) {
      if (before === null) changes.push({ kind: "remove-file", path, why: "delete: there was no file before create" });
      else {
        const mode = recorded.previousFileMode ?? undefined;
        changes.push({
          kind: "write-file",
          path,
          content: before,
          why: "delete: restore the content it had before create",
          ...(mode ? { mode } : {}),
        });
      }
    }
  }
  const r = o.previousRecord;
  if (r.kind === "blocked") warnings.push(`${previousRecordPath(fileName)} is ${r.what}, not this package's record; it was left alone`);
  const recordAction = recordActionAtDelete(r);
  return { changes, recordAction, warnings };
}

/** Human-readable account of a change, for the `actions` output. */
export function describeChange(c: Change): string {
  switch (c.kind) {
    case "set-live":
      return `set net.netfilter.nf_conntrack_helper ${c.from} -> ${c.to}`;
    case "set-module-parameter":
      return `set ${HELPER_PARAM_PATH} ${c.from} -> ${c.to} (default of network namespaces created later)`;
    case "write-file":
      return `wrote ${c.path} (${c.why})`;
    case "remove-file":
      return `removed ${c.path} (${c.why})`;
  }
}

function judgeConflicts(o: HelperObservation, toggle: Toggle, want: ToggleValue, desired: HelperSettingDesired): Conflict[] {
  const ours = desired.fileName;
  return o.outside.map((s) => {
    const contradicts = toggle === "removed" ? true : s.value !== want;
    const base = s.path.slice(s.path.lastIndexOf("/") + 1);
    // modprobe concatenates the options of all files in file-name order: the last value wins.
    const overridesManagedFile = s.source === "modprobe" && base > ours && s.value !== want && toggle === "present";
    return { ...s, contradicts, overridesManagedFile };
  });
}

function describeConflict(c: Conflict, ctx: { ours: string; want: ToggleValue; persisting: boolean; builtin: boolean }): string {
  const { ours, want, persisting, builtin } = ctx;
  const where = c.source === "cmdline" ? `the kernel command line (${c.text.trim()})` : `${c.path}:${c.line} (${c.text.trim()})`;
  const sets = c.value === null ? "sets an invalid value" : `sets ${c.value}`;
  switch (c.source) {
    case "modprobe":
      if (builtin) return `${where} ${sets}; it has no effect (nf_conntrack is built into the kernel) but misleads: remove it`;
      if (!persisting) return `${where} ${sets}: nf_conntrack gets that value whenever it loads; remove or change that line`;
      return c.overridesManagedFile
        ? `${where} ${sets} and is read after ${ours}: modprobe applies the last option, so that value, not ${want}, is what nf_conntrack gets when it loads; remove or change that line`
        : `${where} ${sets}; ${ours} is read later and wins, but remove the contradicting line`;
    case "sysctl":
      return `${where} ${sets}: systemd-sysctl writes it at boot when nf_conntrack is ${builtin ? "in the kernel (it is built in)" : "already loaded then"}; remove or change that line`;
    case "cmdline":
      return `${where} ${sets}, which the kernel applies when nf_conntrack initialises; change the boot loader configuration`;
  }
}

/** Warnings for settings of a toggle that no longer exists (stale lines in files not ours). */
export function staleWarnings(conflicts: readonly Conflict[]): string[] {
  return conflicts.map((c) => {
    const where = c.source === "cmdline" ? `the kernel command line (${c.text.trim()})` : `${c.path}:${c.line} (${c.text.trim()})`;
    const effect = c.source === "sysctl" ? "systemd-sysctl fails on it at boot" : "the kernel ignores it";
    return `${where} sets nf_conntrack_helper, which this kernel does not have: ${effect}; remove it (not in the file this resource owns, so it was left alone)`;
  });
}

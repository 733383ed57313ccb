import { helperOptionLines, type ToggleValue } from "./managed-file";
import { managedPath, type HelperObservation } from "./observe";
import type { Change, Conflict, ConntrackModule, Persistence, Plan, Recorded, Toggle } from "./plan";
import type { HelperSettingDesired } from "./schema";
import type { Assert, ExactNames } from "../../common/output-names";

/** What a `ConntrackHelperSetting` reports besides its inputs. */
export interface HelperSettingOutputs extends Recorded {
  /** `uname -r` of the host. */
  kernelRelease: string;
  /** Whether the kernel has the automatic-assignment toggle (`removed`: Linux 6.0 and later). */
  toggle: Toggle;
  /** How `nf_conntrack` exists on the host. */
  nfConntrack: ConntrackModule;
  /** `net.netfilter.nf_conntrack_helper` as read back (null: not loaded, or no toggle). */
  liveValue: ToggleValue | null;
  /** `/sys/module/nf_conntrack/parameters/nf_conntrack_helper` as read back (null when absent). */
  moduleParameter: "Y" | "N" | null;
  /** Path of the managed file when it exists on the host, else null. */
  persistedFile: string | null;
  /** Its content, else null. */
  persistedContent: string | null;
  /** How (and whether) the value survives a module reload or reboot. */
  persistence: Persistence;
  /** Settings of the toggle outside the managed file (other modprobe.d/sysctl.d files, kernel command line). */
  conflicts: Conflict[];
  /** What the operator must act on. */
  warnings: string[];
  /** What the operator should know (always includes what happens to flows that already have a helper, where the toggle exists). */
  notes: string[];
  /** What the last create or update changed on the host; empty when it changed nothing. */
  actions: string[];
}

/** Outputs for the host as observed, given the plan computed from that same observation. */
export function outputsOf(
  o: HelperObservation,
  p: Plan,
  desired: HelperSettingDesired,
  recorded: Recorded,
  actions: string[],
): HelperSettingOutputs {
  return {
    kernelRelease: o.facts.kernelRelease,
    toggle: p.toggle,
    nfConntrack: p.module,
    liveValue: o.live,
    moduleParameter: o.moduleParameter,
    persistedFile: o.file.kind === "file" ? managedPath(desired.fileName) : null,
    persistedContent: o.file.kind === "file" ? o.file.content : null,
    persistence: p.persistence,
    conflicts: p.conflicts,
    warnings: p.refusal ? [`${p.refusal.message}; ${p.refusal.hint}`, ...p.warnings] : p.warnings,
    notes: p.notes,
    actions,
    previousLiveValue: recorded.previousLiveValue,
    previousModuleParameter: recorded.previousModuleParameter,
    previousFileContent: recorded.previousFileContent,
    previousFileMode: recorded.previousFileMode,
  };
}

/**
 * The inputs that describe the host as observed (for `read`): the program's values where the host
 * matches them, otherwise values that make the next diff show the drift.
 *
 * - `enabled` is what the host does: the live value (or the module parameter when only it was
 *   changed); when `nf_conntrack` is not loaded, the value the managed file would load; `false`
 *   where the kernel has no toggle.
 * - `persist` is flipped when the managed file is not what the resource would write (edited,
 *   removed, or a stale option put back) and `enabled` does not already show it, so that the next
 *   `up` rewrites the file.
 */
export function reflectedDesired(
  o: HelperObservation,
  p: Plan,
  olds: HelperSettingDesired,
): Pick<HelperSettingDesired, "enabled" | "persist"> {
  if (p.toggle === "removed") {
    return { enabled: false, persist: p.changes.some(isFileChange) ? !olds.persist : olds.persist };
  }
  if (p.refusal || p.toggle !== "present") return { enabled: olds.enabled, persist: olds.persist };
  const liveChange = p.changes.find((c) => c.kind === "set-live");
  const paramChange = p.changes.find((c) => c.kind === "set-module-parameter");
  const fileDrift = p.changes.some(isFileChange);
  let enabled = olds.enabled;
  let fileShown = false;
  if (liveChange) enabled = liveChange.from === 1;
  else if (paramChange) enabled = paramChange.from === "Y";
  else if (o.live === null && fileDrift && o.file.kind === "file") {
    const last = helperOptionLines(o.file.content).at(-1)?.value;
    if (last !== undefined && last !== null && last !== (olds.enabled ? 1 : 0)) {
      enabled = last === 1;
      fileShown = true;
    }
  }
  return { enabled, persist: fileDrift && !fileShown ? !olds.persist : olds.persist };
}

function isFileChange(c: Change): boolean {
  return c.kind === "write-file" || c.kind === "remove-file";
}

/**
 * The recorded values carried in stored outputs (anything malformed counts as not recorded). Takes
 * the stored state as it comes (old or damaged state may hold anything under these names).
 */
export function recordedOf(olds: { readonly [K in keyof Recorded]?: unknown }): Recorded {
  const live = olds.previousLiveValue;
  const param = olds.previousModuleParameter;
  const file = olds.previousFileContent;
  const mode = olds.previousFileMode;
  return {
    previousLiveValue: live === 0 || live === 1 ? live : null,
    previousModuleParameter: param === "Y" || param === "N" ? param : null,
    previousFileContent: typeof file === "string" ? file : null,
    previousFileMode: typeof mode === "string" && /^[0-7]{3,4}$/.test(mode) ? mode : null,
  };
}

/**
 * The names of ConntrackHelperSetting's outputs besides its inputs, once: the constructor's output slots come
 * from it, and the compiler checks it against {@link HelperSettingOutputs} and the class's declared fields (`resource.ts`).
 */
export const HELPER_SETTING_OUTPUT_NAMES = [
  "kernelRelease",
  "toggle",
  "nfConntrack",
  "liveValue",
  "moduleParameter",
  "persistedFile",
  "persistedContent",
  "persistence",
  "previousLiveValue",
  "previousModuleParameter",
  "previousFileContent",
  "previousFileMode",
  "conflicts",
  "warnings",
  "notes",
  "actions",
] as const;

// Compile-time only: the list is exactly the outputs type's keys.
type _NamesAreTheOutputs = Assert<ExactNames<HelperSettingOutputs, typeof HELPER_SETTING_OUTPUT_NAMES>>;

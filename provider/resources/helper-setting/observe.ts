import { MODPROBE_DIR } from "../../common/markers";
import type { Connection } from "../../connection/schema";
import { CONF_DIR_FUNCTIONS, modprobeGrep, parseConfMatch, sysctlGrep } from "../../transport/conf-dirs";
import { commandFailed, exec, script } from "../../transport/exec";
import type { SnapshotUse } from "../../transport/snapshot";
import { EXIT } from "../../transport/exit-codes";
import { FACTS_SCRIPT, parseFacts, type HostFacts } from "../../transport/facts";
import { parseKeyValues, parseSections, sectionStart } from "../../transport/sections";
import { helperOptionLines, parseBoolParam, type ToggleValue } from "./managed-file";
import { HEX_FUNCTION, parseObservedFile, type ObservedFile } from "../../transport/observed-file";
import { previousRecordPath } from "../../common/previous-record";
import { parsePreviousRecord, PREVIOUS_OBSERVE_SH, type PreviousRecord } from "./previous-record";

/** Where the live toggle of the session's network namespace lives (only while `nf_conntrack` is in). */
export const HELPER_SYSCTL_PATH = "/proc/sys/net/netfilter/nf_conntrack_helper";
/** The module parameter: the value every network namespace created from now on starts with. */
export const HELPER_PARAM_PATH = "/sys/module/nf_conntrack/parameters/nf_conntrack_helper";

export type { ObservedFile } from "../../transport/observed-file";

/** A setting of the toggle outside the managed file. */
export interface OutsideSetting {
  /** `modprobe`: a `/…/modprobe.d/*.conf` option; `sysctl`: a sysctl.d entry; `cmdline`: `/proc/cmdline`. */
  source: "modprobe" | "sysctl" | "cmdline";
  /** File path (`/proc/cmdline` for the kernel command line). */
  path: string;
  /** 1-based line number (0 for the kernel command line). */
  line: number;
  /** The line (or command-line word) as written. */
  text: string;
  /** The value it sets, or null when the kernel would refuse it. */
  value: ToggleValue | null;
}

/** Everything one observation learns: facts, live values, the managed file, other settings. */
export interface HelperObservation {
  facts: HostFacts;
  /** `/proc/sys/net/netfilter/nf_conntrack_helper` exists in the session's namespace. */
  sysctlPresent: boolean;
  /** Its value (null when absent or unreadable). */
  live: ToggleValue | null;
  /** `/sys/module/nf_conntrack/parameters/nf_conntrack_helper` (null when absent). */
  moduleParameter: "Y" | "N" | null;
  /**
   * What `modinfo` says about `nf_conntrack` when it is not loaded: whether its parameters include
   * the toggle. Null when modinfo is missing or does not know the module.
   */
  modinfoHasToggle: boolean | null;
  /** The managed file. */
  file: ObservedFile;
  /** The toggle set elsewhere: other modprobe.d files, sysctl.d files, the kernel command line. */
  outside: OutsideSetting[];
  /** The host-side record of the values before this resource's first change (see previous-record.ts). */
  previousRecord: PreviousRecord;
}

/** A modprobe.d option line that sets the toggle. */
const HELPER_OPTION_ERE = "^[[:space:]]*options[[:space:]]+nf[-_]conntrack[[:space:]]+(.*[[:space:]])?nf[-_]conntrack[-_]helper=";
/** A sysctl.d line that sets the toggle. */
const HELPER_SYSCTL_ERE = "^[[:space:]]*-?net[./]netfilter[./]nf_conntrack_helper[[:space:]]*=";

/**
 * Shell text that prints an observation of the managed file `$m` and its record `$r` (both set by
 * the caller; `$r` empty: none) and the host.
 * Also the tail of the apply script, so that what apply reports is read back, not assumed.
 */
// Reads the files modprobe and systemd-sysctl would read, in the order they read them
// (transport/conf-dirs.ts: a file name in an earlier directory hides it in later ones). The managed
// file is reported in its own section, not here.
export const OBSERVE_BODY = `${sectionStart("facts")}
${FACTS_SCRIPT}
${HEX_FUNCTION}
${sectionStart("toggle")}
[ -e ${HELPER_SYSCTL_PATH} ] && echo sysctl_present=1
if [ -r ${HELPER_PARAM_PATH} ]; then echo "module_param=$(cat ${HELPER_PARAM_PATH})"; fi
# modinfo only for a module not in the kernel (no /sys/module/nf_conntrack): in the kernel, the
# sysctl, the parameter or the version decides (toggleOf) and modinfo's answer is never read.
if [ ! -d /sys/module/nf_conntrack ] && command -v modinfo >/dev/null 2>&1; then
  if parms=$(modinfo -F parm nf_conntrack 2>/dev/null) && [ -n "$parms$(modinfo -F filename nf_conntrack 2>/dev/null)" ]; then
    case "$parms" in *nf_conntrack_helper:*) echo modinfo_toggle=1 ;; *) echo modinfo_toggle=0 ;; esac
  fi
fi
${sectionStart("file")}
if [ -L "$m" ]; then echo kind=symlink
elif [ -f "$m" ]; then
  if h=$(od -An -v -tx1 < "$m"); then echo kind=file; ctk_hex hex $h; echo "mode=$(stat -c %a -- "$m" 2>/dev/null)"
  else echo kind=unreadable; fi
elif [ -e "$m" ]; then echo kind=other
else echo kind=absent; fi
${PREVIOUS_OBSERVE_SH}
${CONF_DIR_FUNCTIONS}
${sectionStart("outside")}
set -f
cl=; read -r cl 2>/dev/null < /proc/cmdline || :
for w in $cl; do
  case "$w" in nf[-_]conntrack.nf[-_]conntrack[-_]helper=*) printf 'cmdline\\t/proc/cmdline\\t0:%s\\n' "$w" ;; esac
done
set +f
${modprobeGrep(HELPER_OPTION_ERE, '"$m"', "modprobe")}
${sysctlGrep(HELPER_SYSCTL_ERE, '"$m"', "sysctl")}
true`;

/** The observe script: `$1` is the managed file's path, `$2` its record's. */
export const OBSERVE_SCRIPT = `m=$1; r=$2\n${OBSERVE_BODY}`;

/** Absolute path of the managed file. */
export function managedPath(fileName: string): string {
  return `${MODPROBE_DIR}/${fileName}`;
}

/** Reads facts, live values, the managed file and other settings of the toggle in one round trip. */
export async function observe(conn: Connection, fileName: string, opts: { shared?: SnapshotUse } = {}): Promise<HelperObservation> {
  const argv = script(OBSERVE_SCRIPT, [managedPath(fileName), previousRecordPath(fileName)]);
  const label = "observe nf_conntrack_helper (facts, live value, /etc/modprobe.d)";
  const r = await exec(conn, argv, { label, observation: opts.shared ?? "fresh" });
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, { label, hint: "check that the user is root or has passwordless sudo (sudo: true)" });
  return parseObservation(r.stdout);
}

/** Parses the output of {@link OBSERVE_SCRIPT}. Pure, so it is tested without a host. */
export function parseObservation(stdout: string): HelperObservation {
  const sections = parseSections(stdout);
  const facts = parseFacts(sections.get("facts") ?? "");
  const toggle = parseKeyValues(sections.get("toggle") ?? "");
  const file = parseKeyValues(sections.get("file") ?? "");
  const liveRaw = facts.helperSysctl?.trim();
  const param = toggle.get("module_param")?.trim();
  const modinfo = toggle.get("modinfo_toggle");
  return {
    facts,
    sysctlPresent: toggle.get("sysctl_present") === "1" || liveRaw !== undefined,
    live: liveRaw === "0" ? 0 : liveRaw === "1" ? 1 : null,
    moduleParameter: param === "Y" || param === "N" ? param : param === "1" ? "Y" : param === "0" ? "N" : null,
    modinfoHasToggle: modinfo === "1" ? true : modinfo === "0" ? false : null,
    file: parseObservedFile(file),
    outside: parseOutside(sections.get("outside") ?? ""),
    previousRecord: parsePreviousRecord(parseKeyValues(sections.get("previous") ?? "")),
  };
}

function parseOutside(text: string): OutsideSetting[] {
  const out: OutsideSetting[] = [];
  for (const row of text.split("\n")) {
    const tab = row.indexOf("\t");
    const source = row.slice(0, tab);
    if (tab < 0 || (source !== "modprobe" && source !== "sysctl" && source !== "cmdline")) continue;
    const m = parseConfMatch(row.slice(tab + 1));
    if (!m) continue;
    out.push({ source, path: m.path, line: m.line, text: m.text, value: settingValue(source, m.text) });
  }
  return out;
}

function settingValue(source: OutsideSetting["source"], text: string): ToggleValue | null {
  if (source === "modprobe") return helperOptionLines(text)[0]?.value ?? null;
  const m = /=\s*(\S*)/.exec(text);
  if (!m) return null;
  // sysctl.d values are written to /proc as text: the kernel's proc_dointvec takes integers only.
  if (source === "sysctl") return m[1] === "0" ? 0 : m[1] === "1" ? 1 : null;
  return parseBoolParam(m[1]);
}

import type { Connection } from "../../connection/schema";
import { CONF_DIR_FUNCTIONS, modprobeGrep, parseConfMatch, sysctlGrep } from "../../transport/conf-dirs";
import { commandFailed, exec, script } from "../../transport/exec";
import type { SnapshotUse } from "../../transport/snapshot";
import { EXIT } from "../../transport/exit-codes";
import { FACTS_SCRIPT, parseFacts, type HostFacts } from "../../transport/facts";
import { parseKeyValues, parseSections, sectionStart } from "../../transport/sections";
import { FILE_ROLES, MANAGED_PATHS, type FileRole } from "./managed-files";
import { HEX_FUNCTION, parseObservedFile, type ObservedFile } from "../../transport/observed-file";
import { parseTableRecord, TABLE_PREVIOUS_OBSERVE_SH, TABLE_RECORD_PATH, type TablePreviousRecord } from "./previous-record";

/** Where the sysctls live. */
export const NETFILTER_PROC = "/proc/sys/net/netfilter";
/** The hash size as the module parameter (runtime-writable from the initial namespace). */
export const HASHSIZE_PATH = "/sys/module/nf_conntrack/parameters/hashsize";

export type { ObservedFile } from "../../transport/observed-file";

/** A sysctl value and whether its /proc file can be written (mode bits, which the kernel sets per namespace). */
export interface SysctlValue {
  value: number;
  writable: boolean;
}

/** A setting of a managed key outside this resource's files (another sysctl.d file, a modprobe option). */
export interface OutsideSetting {
  source: "sysctl" | "modprobe";
  path: string;
  line: number;
  text: string;
  /** The sysctl name under `net.netfilter.` (`hashsize` for the module option). */
  key: string;
  value: number | null;
}

/** Everything one observation learns. */
export interface TableObservation {
  facts: HostFacts;
  /** `nf_conntrack_max` (null when the sysctl is absent: nf_conntrack not loaded). */
  max: SysctlValue | null;
  /** `nf_conntrack_count` at the time of the observation. */
  count: number | null;
  /** `nf_conntrack_buckets` sysctl. */
  bucketsSysctl: SysctlValue | null;
  /** `/sys/module/nf_conntrack/parameters/hashsize` (trusted over the sysctl, see domain.md §4). */
  hashsize: SysctlValue | null;
  /** `/sys` is mounted read-only (a container). */
  sysReadOnly: boolean;
  /**
   * The session's network namespace: `initial` when it is that of pid 1, `other` when not (a
   * container or `ip netns`), `unknown` when pid 1's namespace cannot be read.
   */
  namespace: "initial" | "other" | "unknown";
  /** Online CPUs as the host counts them (0 when unknown). */
  cpus: number;
  /** Page size in bytes (the hash size is rounded up to page size / 8 buckets). */
  pageSize: number;
  /** `MemTotal` in bytes (null when unknown). */
  memTotalBytes: number | null;
  /** Path of systemd-sysctl, when present (the udev rule runs it). */
  systemdSysctl: string | null;
  /** `net.netfilter` timeout sysctls by name (`nf_conntrack_udp_timeout` ...). */
  timeouts: Record<string, SysctlValue>;
  files: Record<FileRole, ObservedFile>;
  outside: OutsideSetting[];
  /** The host-side record of the values before this resource's first change (see previous-record.ts). */
  previousRecord: TablePreviousRecord;
}

const P = NETFILTER_PROC;
const KEY_RE = "nf_conntrack_(max|buckets|[a-z0-9_]*timeout[a-z0-9_]*)";
/** A sysctl.d line that sets a managed key. */
const TABLE_SYSCTL_ERE = `^[[:space:]]*-?net[./]netfilter[./]${KEY_RE}[[:space:]]*=`;
/** A modprobe.d option line that sets the hash size. */
const TABLE_OPTION_ERE = "^[[:space:]]*options[[:space:]]+nf[-_]conntrack[[:space:]]+(.*[[:space:]])?hashsize=";

// One round trip: facts, live values with their write permission, the managed files, and the same
// keys set elsewhere. Modes come from stat: outside the initial namespace the kernel makes the
// global sysctls 0444 (since 5.13 and its backports), which is the signal that they are read-only.
const OBSERVE_BODY = `${sectionStart("facts")}
${FACTS_SCRIPT}
${sectionStart("table")}
val() { [ -r "$1" ] && v=$(cat "$1" 2>/dev/null) && printf '%s=%s %s\\n' "$2" "$v" "$(stat -L -c %a -- "$1" 2>/dev/null)"; }
val ${P}/nf_conntrack_max max
val ${P}/nf_conntrack_count count
val ${P}/nf_conntrack_buckets buckets
if [ -r ${HASHSIZE_PATH} ]; then
  if [ -w ${HASHSIZE_PATH} ]; then w=644; else w=444; fi
  echo "hashsize=$(cat ${HASHSIZE_PATH}) $w"
fi
awk '$2 == "/sys" { print "sys_opts=" $4 }' /proc/mounts 2>/dev/null | tail -n 1
echo "netns_self=$(readlink /proc/self/ns/net 2>/dev/null)"
echo "netns_init=$(readlink /proc/1/ns/net 2>/dev/null)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
echo "pagesize=$(getconf PAGESIZE 2>/dev/null)"
awk '$1 == "MemTotal:" { print "memtotal_kb=" $2 }' /proc/meminfo 2>/dev/null
for s in /usr/lib/systemd/systemd-sysctl /lib/systemd/systemd-sysctl; do
  if [ -x "$s" ]; then echo "systemd_sysctl=$s"; break; fi
done
${sectionStart("timeouts")}
# Some twenty files: one grep for all their values and one stat for all their modes, not a cat and
# a stat per file (forty processes on every host). Not the shell's read: it reads a byte at a time,
# and a sysctl file read at an offset past its start says nothing more ("432000" reads as "4").
ctk_timeouts() {
  set --
  for f in ${P}/nf_conntrack_*timeout*; do [ -f "$f" ] && set -- "$@" "$f"; done
  [ "$#" -gt 0 ] || return 0
  _vals=$(grep -H '' -- "$@" 2>/dev/null)
  _modes=$(stat -L -c '%n %a' -- "$@" 2>/dev/null)
  for f in "$@"; do
    # "path:value" and "path mode" lines; the ":" and the space end the path (no name holds one).
    v=; case "$ctk_nl$_vals" in *"$ctk_nl$f:"*) v=\${_vals#*"$f:"}; v=\${v%%"$ctk_nl"*} ;; esac
    _m=; case "$ctk_nl$_modes" in *"$ctk_nl$f "*) _m=\${_modes#*"$f "}; _m=\${_m%%"$ctk_nl"*} ;; esac
    printf '%s=%s %s\\n' "\${f##*/}" "$v" "$_m"
  done
}
ctk_timeouts
${HEX_FUNCTION}
file_state() {
  if [ -L "$1" ]; then echo kind=symlink
  elif [ -f "$1" ]; then
    if h=$(od -An -v -tx1 < "$1"); then echo kind=file; ctk_hex hex $h; echo "mode=$(stat -c %a -- "$1" 2>/dev/null)"
    else echo kind=unreadable; fi
  elif [ -e "$1" ]; then echo kind=other
  else echo kind=absent; fi
}
${sectionStart("file.sysctl")}
file_state "$1"
${sectionStart("file.modprobe")}
file_state "$2"
${sectionStart("file.udev")}
file_state "$3"
${sectionStart("outside")}
${CONF_DIR_FUNCTIONS}
${sysctlGrep(TABLE_SYSCTL_ERE, '"$1"', "sysctl")}
${modprobeGrep(TABLE_OPTION_ERE, '"$2"', "modprobe")}
${TABLE_PREVIOUS_OBSERVE_SH}
true`;

/**
 * Shell text that prints an observation; `$1`..`$3` are the managed paths (sysctl, modprobe, udev),
 * `$r` the path of the record of previous values (empty: not read).
 */
export const OBSERVE_SCRIPT_BODY = OBSERVE_BODY;

/** The observe script: `$4` is the record's path. */
const OBSERVE_SCRIPT = `r=$4\n${OBSERVE_BODY}`;

/** The observe script's positional parameters: the managed paths, then the record's. */
export function observeArgs(): string[] {
  return [...FILE_ROLES.map((r) => MANAGED_PATHS[r]), TABLE_RECORD_PATH];
}

/** Reads facts, live values, the managed files and other settings of the same keys in one round trip. */
export async function observe(conn: Connection, opts: { shared?: SnapshotUse } = {}): Promise<TableObservation> {
  const argv = script(OBSERVE_SCRIPT, observeArgs());
  const label = "observe conntrack table size (nf_conntrack_max, hashsize, timeouts, sysctl.d/modprobe.d/udev files)";
  const r = await exec(conn, argv, { label, observation: opts.shared ?? "fresh" });
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, { label, hint: "check that the user is root or has passwordless sudo (sudo: true)" });
  return parseObservation(r.stdout);
}

function sysctlValue(raw: string | undefined): SysctlValue | null {
  if (raw === undefined) return null;
  const [v, mode] = raw.trim().split(/\s+/);
  if (!/^\d+$/.test(v ?? "")) return null;
  // Writable by its owner (root): the kernel drops the write bits where the value is read-only.
  const writable = /^[0-7]{3,4}$/.test(mode ?? "") ? (parseInt(mode, 8) & 0o200) !== 0 : false;
  return { value: Number(v), writable };
}

/** Parses the output of the observe script. Pure, so it is tested without a host. */
export function parseObservation(stdout: string): TableObservation {
  const s = parseSections(stdout);
  const facts = parseFacts(s.get("facts") ?? "");
  const t = parseKeyValues(s.get("table") ?? "");
  const self = t.get("netns_self") ?? "";
  const init = t.get("netns_init") ?? "";
  const timeouts: Record<string, SysctlValue> = {};
  for (const [k, v] of parseKeyValues(s.get("timeouts") ?? "")) {
    const sv = sysctlValue(v);
    if (sv) timeouts[k] = sv;
  }
  const num = (k: string) => (/^\d+$/.test(t.get(k) ?? "") ? Number(t.get(k)) : null);
  const files = Object.fromEntries(FILE_ROLES.map((r) => [r, parseObservedFile(parseKeyValues(s.get(`file.${r}`) ?? ""))])) as Record<
    FileRole,
    ObservedFile
  >;
  const memKb = num("memtotal_kb");
  return {
    facts,
    max: sysctlValue(t.get("max")),
    count: sysctlValue(t.get("count"))?.value ?? null,
    bucketsSysctl: sysctlValue(t.get("buckets")),
    hashsize: sysctlValue(t.get("hashsize")),
    sysReadOnly: (t.get("sys_opts") ?? "").split(",").includes("ro"),
    namespace: self === "" || init === "" ? "unknown" : self === init ? "initial" : "other",
    cpus: num("cpus") ?? 0,
    pageSize: num("pagesize") || 4096,
    memTotalBytes: memKb === null ? null : memKb * 1024,
    systemdSysctl: t.get("systemd_sysctl") || null,
    timeouts,
    files,
    outside: parseOutside(s.get("outside") ?? ""),
    previousRecord: parseTableRecord(parseKeyValues(s.get("previous") ?? "")),
  };
}

function parseOutside(text: string): OutsideSetting[] {
  const out: OutsideSetting[] = [];
  for (const row of text.split("\n")) {
    const tab = row.indexOf("\t");
    const source = row.slice(0, tab);
    if (tab < 0 || (source !== "sysctl" && source !== "modprobe")) continue;
    const match = parseConfMatch(row.slice(tab + 1));
    if (!match) continue;
    const { path, line, text: body } = match;
    if (source === "sysctl") {
      const m = /^\s*-?net[./]netfilter[./](\S+?)\s*=\s*(\S*)/.exec(body);
      if (!m) continue;
      out.push({ source, path, line, text: body, key: m[1], value: /^\d+$/.test(m[2]) ? Number(m[2]) : null });
    } else {
      const m = /hashsize=(\S*)/.exec(body);
      out.push({ source, path, line, text: body, key: "hashsize", value: m && /^\d+$/.test(m[1]) ? Number(m[1]) : null });
    }
  }
  return out;
}

import type { Connection } from "../connection/schema";
import { commandFailed, exec, script } from "./exec";
import { EXIT } from "./exit-codes";
import { parseKeyValues, parseSections, sectionStart } from "./sections";

/** Tools whose presence decides what a resource can do on a host. */
export const PROBED_BINARIES = [
  "iptables",
  "ip6tables",
  "iptables-save",
  "iptables-restore",
  "ip6tables-save",
  "ip6tables-restore",
  "iptables-legacy",
  "iptables-nft",
  "nft",
  "modprobe",
  "update-initramfs",
  "dracut",
  "lsinitramfs",
  "lsinitrd",
  "conntrack",
  "netfilter-persistent",
  "sysctl",
] as const;

/** How `nf_conntrack` exists on a host. */
export type ModuleState = "loaded" | "builtin" | "module" | "absent";

/** What one probe learns about a host. */
export interface HostFacts {
  /** `uname -r`. */
  kernelRelease: string;
  /** Numeric kernel version parsed from the release (vendor suffixes ignored). */
  kernel: { major: number; minor: number; patch: number };
  /** Absolute path of each probed tool that exists. */
  binaries: Partial<Record<(typeof PROBED_BINARIES)[number], string>>;
  /** `nf_conntrack`: loaded as a module, built into the kernel, available as a module, or absent. */
  nfConntrack: ModuleState;
  /** Live `net.netfilter.nf_conntrack_helper` of the session's namespace, when the file exists. */
  helperSysctl?: string;
  /** Distribution from `/etc/os-release`. */
  os: { id: string; versionId: string; like: string[] };
  /** Effective uid of remote commands (0 when root or through sudo). */
  uid: number;
}

/**
 * Shell text setting `$ctk_kr` to the running kernel's release (`uname -r`), read by the shell from
 * `/proc/sys/kernel/osrelease` (no process; `uname -r` where that file cannot be read). The one place
 * for it: every script that looks up the kernel's module lists (`/lib/modules/$ctk_kr/...`) runs it
 * at its top level before anything that uses the value. It always assigns, so a variable of that name
 * in the login's environment (which `env` passes on) never stands in for the host's release.
 */
export const KERNEL_RELEASE = `if [ -r /proc/sys/kernel/osrelease ] && read -r ctk_kr < /proc/sys/kernel/osrelease; then :; else ctk_kr=$(uname -r); fi`;

/**
 * Shell text that prints the facts as `key=value` lines. Resources embed it in their own observe
 * script so that facts cost no extra round trip. Every kind's observe embeds it, so a fact that costs
 * a process belongs here only when every kind reads it: the iptables version is NotrackRule's alone
 * (its observe asks `iptables -V` itself); here it cost the other kinds a process on every host in
 * every read.
 */
export const FACTS_SCRIPT = `# Builtins where a file holds the answer: every observe script of every kind runs this, and on a
# fleet each process is a fork and an exec on every host (about 2 ms of CPU each on a small VM).
# $ctk_nl is a newline, for cutting a value at its first line without a process.
ctk_nl='
'
${KERNEL_RELEASE}
echo "kernel=$ctk_kr"
# The effective uid is the second field of Uid: in the shell's own status (what id -u prints).
ctk_uid=
if [ -r /proc/self/status ]; then
  while read -r _k _r _e _rest; do
    if [ "$_k" = Uid: ]; then ctk_uid=$_e; break; fi
  done < /proc/self/status
fi
[ -n "$ctk_uid" ] || ctk_uid=$(id -u)
echo "uid=$ctk_uid"
# A tool that is missing prints an empty value, which reads as absent.
for c in ${PROBED_BINARIES.join(" ")}; do
  printf 'bin.%s=' "$c"
  command -v "$c" 2>/dev/null || echo
done
if [ -e /sys/module/nf_conntrack/initstate ]; then echo nf_conntrack=loaded
elif [ -d /sys/module/nf_conntrack ] || grep -qs '/nf_conntrack\\.ko' "/lib/modules/$ctk_kr/modules.builtin"; then echo nf_conntrack=builtin
elif grep -qs '/nf_conntrack\\.ko' "/lib/modules/$ctk_kr/modules.dep"; then echo nf_conntrack=module
else echo nf_conntrack=absent; fi
# cat, not read: the shell reads a byte at a time, and a sysctl file read past its start says nothing more.
if [ -r /proc/sys/net/netfilter/nf_conntrack_helper ]; then echo "helper_sysctl=$(cat /proc/sys/net/netfilter/nf_conntrack_helper)"; fi
# ID, VERSION_ID and ID_LIKE of os-release, every double quote taken out (a last line without its
# newline counts too).
if [ -r /etc/os-release ]; then
  while IFS= read -r _l || [ -n "$_l" ]; do
    case "$_l" in ID=* | VERSION_ID=* | ID_LIKE=*) ;; *) continue ;; esac
    while :; do case "$_l" in *'"'*) _l=\${_l%%'"'*}\${_l#*'"'} ;; *) break ;; esac; done
    printf 'os.%s\\n' "$_l"
  done < /etc/os-release
fi`;

/** Parses {@link FACTS_SCRIPT} output. Pure, so it is tested without a host. */
export function parseFacts(text: string): HostFacts {
  const kv = parseKeyValues(text);
  const kernelRelease = kv.get("kernel") ?? "";
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(kernelRelease);
  const binaries: HostFacts["binaries"] = {};
  for (const b of PROBED_BINARIES) {
    const p = kv.get(`bin.${b}`);
    if (p) binaries[b] = p;
  }
  const nf = kv.get("nf_conntrack");
  return {
    kernelRelease,
    kernel: { major: Number(m?.[1] ?? 0), minor: Number(m?.[2] ?? 0), patch: Number(m?.[3] ?? 0) },
    binaries,
    nfConntrack: nf === "loaded" || nf === "builtin" || nf === "module" ? nf : "absent",
    helperSysctl: kv.get("helper_sysctl"),
    os: {
      id: kv.get("os.ID") ?? "unknown",
      versionId: kv.get("os.VERSION_ID") ?? "",
      like: (kv.get("os.ID_LIKE") ?? "").split(/\s+/).filter(Boolean),
    },
    uid: Number(kv.get("uid") ?? -1),
  };
}

/** True when the kernel is at least `major.minor`. */
export function kernelAtLeast(f: Pick<HostFacts, "kernel">, major: number, minor: number): boolean {
  return f.kernel.major > major || (f.kernel.major === major && f.kernel.minor >= minor);
}

/** Probes a host's facts in one round trip. */
export async function probeFacts(conn: Connection): Promise<HostFacts> {
  const argv = script(`${sectionStart("facts")}\n${FACTS_SCRIPT}`);
  const r = await exec(conn, argv, { label: "probe host facts" });
  if (r.exitCode !== EXIT.OK) throw commandFailed(conn, argv, r, { label: "probe host facts" });
  return parseFacts(parseSections(r.stdout).get("facts") ?? "");
}

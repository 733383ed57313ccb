/**
 * Fault injection on lab hosts, for the fault tier (test/fault). Reusable by any lab test.
 *
 * Each lab host has a private `/usr/local/sbin` (first on the provider's and root's PATH; empty by
 * default, see `BIND_MOUNTS` in test/lab/lab.sh) and a private `/etc`. A *shim* is a small sh script
 * installed there under a tool's name (`flock`, `nft`, `iptables-nft-restore`, `mv`, `rm`, ...) that
 * runs the real binary, and, as `/etc/ctk-fault` on that host says:
 *
 * - prints warnings on stderr first (`noise`), among them the real text of iptables-nft's
 *   "# Warning: iptables-legacy tables present";
 * - blocks once (`block`), before or after the real tool runs, for invocations whose arguments match
 *   a shell pattern, until the test releases it: the test then cuts the connection at exactly that
 *   point ({@link cutConnection}) and releases ({@link release}).
 *
 * The test process reaches both directories directly through the lab state dir (no ssh, no
 * `lab.sh exec`), so polling is cheap. `lab.sh reset` empties both (`usr-local-sbin` is a reset
 * path; `/etc/ctk-fault` is removed by {@link clearFaults}).
 *
 * @packageDocumentation
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { snapshotHost } from "../engine/lab-hosts";
import { hostExec, hostSh, labConnection, labHost, labStateDir, loadLab, resetHost, setBackend } from "../lab/inventory";

/** The only hosts the fault tier uses (ctlab1..10 belong to other tests). */
export const FAULT_HOSTS = ["ctlab11", "ctlab12", "ctlab13", "ctlab14"] as const;
/** A fault-tier host name. */
export type FaultHost = (typeof FAULT_HOSTS)[number];

/** The real text iptables-nft prints on stderr when legacy tables also exist. */
export const LEGACY_WARNING = "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them";

/** Control directory inside each host (its private /etc). */
const CTL = "/etc/ctk-fault";

/** Where a host's private paths live on this machine. */
export function hostPath(host: string, rel: "etc" | "usr-local-sbin"): string {
  return path.join(labStateDir(), "hosts", host, rel);
}

function ctlDir(host: string): string {
  return path.join(hostPath(host, "etc"), "ctk-fault");
}

/** The real binary a shim stands in front of, as the host's PATH (without /usr/local/sbin) finds it. */
function realBinary(tool: string): string {
  for (const dir of ["/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    const p = path.join(dir, tool);
    if (existsSync(p)) return p;
  }
  throw new Error(`no real ${tool} on this machine to shim`);
}

/**
 * The shim for one tool. Fixed text; the tool's name and real path are the only substitutions and
 * come from the test, not from generated input.
 */
function shimText(tool: string, real: string): string {
  return `#!/bin/sh
# pulumi-conntrack fault-tier shim for ${tool} (test/fault/faults.ts); real binary: ${real}
c=${CTL}
if [ -e "$c/noise" ]; then
  printf '%s\\n' '${LEGACY_WARNING}' '${tool}: warning: fault tier noise on stderr; not data' '# Table: raw' '-A PREROUTING -j NOTRACK' >&2
fi
ctk_hold() {
  [ -e "$c/block.${tool}" ] || return 0
  [ "$(sed -n 1p "$c/block.${tool}")" = "$1" ] || return 0
  pat=$(sed -n 2p "$c/block.${tool}")
  case "$2" in $pat) ;; *) return 0 ;; esac
  mkdir "$c/taken.${tool}" 2>/dev/null || return 0
  echo $$ > "$c/blocked.${tool}"
  while [ ! -e "$c/release.${tool}" ]; do sleep 0.05; done
}
ctk_hold before "$*"
if [ -e "$c/trace" ] || { [ -e "$c/block.${tool}" ] && [ "$(sed -n 1p "$c/block.${tool}")" = after ]; }; then
  [ ! -e "$c/trace" ] || echo "begin ${tool} $$" >> "$c/trace.log"
  ${real} "$@"
  rc=$?
  [ ! -e "$c/trace" ] || echo "end ${tool} $$" >> "$c/trace.log"
  ctk_hold after "$*"
  exit $rc
fi
exec ${real} "$@"
`;
}

/** Installs shims for these tools on a host (idempotent). Without a control file they only pass through. */
export function installShims(host: string, tools: readonly string[]): void {
  const dir = hostPath(host, "usr-local-sbin");
  if (!existsSync(dir)) throw new Error(`${dir} missing: the lab was started without the private /usr/local/sbin (lab.sh down && up 14)`);
  mkdirSync(ctlDir(host), { recursive: true });
  for (const t of tools) writeFileSync(path.join(dir, t), shimText(t, realBinary(t)), { mode: 0o755 });
}

/** Removes every shim and control file from a host. */
export function clearFaults(host: string): void {
  const dir = hostPath(host, "usr-local-sbin");
  if (existsSync(dir)) for (const f of readdirSync(dir)) rmSync(path.join(dir, f), { force: true });
  rmSync(ctlDir(host), { recursive: true, force: true });
}

/** Every tool an apply script of this package runs that a shim can stand in front of. */
export const ALL_TOOLS = [
  "flock",
  "nft",
  "iptables-nft-restore",
  "ip6tables-nft-restore",
  "iptables-legacy-restore",
  "ip6tables-legacy-restore",
  "iptables-nft-save",
  "ip6tables-nft-save",
  "iptables-legacy-save",
  "ip6tables-legacy-save",
  "mv",
  "rm",
  "mktemp",
  "sha256sum",
  "modprobe",
  "sysctl",
  "stat",
  "cat",
];

/** Turns stderr noise from every shimmed tool on or off. */
export function setNoise(host: string, on: boolean): void {
  mkdirSync(ctlDir(host), { recursive: true });
  const f = path.join(ctlDir(host), "noise");
  if (on) writeFileSync(f, "");
  else rmSync(f, { force: true });
}

/** Turns tracing on (every shimmed run appends `begin TOOL PID` / `end TOOL PID`) and clears the log. */
export function startTrace(host: string): void {
  mkdirSync(ctlDir(host), { recursive: true });
  rmSync(path.join(ctlDir(host), "trace.log"), { force: true });
  writeFileSync(path.join(ctlDir(host), "trace"), "");
}

/** The trace log's lines so far. */
export function traceLog(host: string): string[] {
  const f = path.join(ctlDir(host), "trace.log");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
}

/** Where a blocked tool stops: before the real binary runs, or after it returned. */
export type Phase = "before" | "after";

/**
 * Arms a one-shot block: the next invocation of `tool` on `host` whose space-joined arguments match
 * the sh `pattern` stops (before or after the real binary) until {@link release}.
 */
export function armBlock(host: string, tool: string, phase: Phase, pattern = "*"): void {
  const c = ctlDir(host);
  mkdirSync(c, { recursive: true });
  for (const f of [`taken.${tool}`, `blocked.${tool}`, `release.${tool}`]) rmSync(path.join(c, f), { recursive: true, force: true });
  writeFileSync(path.join(c, `block.${tool}`), `${phase}\n${pattern}\n`);
}

/** Waits until the armed block of `tool` holds a process; returns its pid (in the machine's pid namespace). */
export async function waitBlocked(host: string, tool: string, timeoutMs = 60_000): Promise<number> {
  const f = path.join(ctlDir(host), `blocked.${tool}`);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (existsSync(f)) {
      const pid = Number(readFileSync(f, "utf8").trim());
      if (pid > 0) return pid;
    }
    await sleep(25);
  }
  throw new Error(`${host}: no ${tool} invocation reached the armed block within ${timeoutMs} ms`);
}

/** Lets the blocked invocation of `tool` go on, and disarms the block. */
export function release(host: string, tool: string): void {
  const c = ctlDir(host);
  writeFileSync(path.join(c, `release.${tool}`), "");
  rmSync(path.join(c, `block.${tool}`), { force: true });
}

/** The network namespace inode of a process, or undefined when it is gone. */
function netnsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return true;
  }
}

/** Processes in a lab host's network namespace other than its listening sshd, living ones only. */
export function hostProcesses(host: string): Array<{ pid: number; comm: string }> {
  const lab = loadLab();
  if (!lab) throw new Error("lab not up");
  const listener = labHost(lab, host).sshdPid;
  const ns = netnsOf(listener);
  if (!ns) throw new Error(`${host}: sshd ${listener} is gone`);
  const out: Array<{ pid: number; comm: string }> = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === listener || isZombie(pid) || netnsOf(pid) !== ns) continue;
    out.push({ pid, comm: comm(pid) });
  }
  return out;
}

/**
 * Cuts every SSH connection to a host at once, from the server side: SIGKILL to the host's sshd
 * session processes (the listener stays). The commands those sessions started keep running, as
 * they do on a real host whose client vanished, until they write to the closed pipes.
 */
export function cutConnection(host: string): number[] {
  const killed: number[] = [];
  for (const p of hostProcesses(host)) {
    if (!p.comm.startsWith("sshd")) continue;
    try {
      process.kill(p.pid, "SIGKILL");
      killed.push(p.pid);
    } catch {
      /* gone already */
    }
  }
  return killed;
}

/** Kills a process and its whole process group on the host side (a command that dies at the cut point). */
export function killRemote(pid: number): void {
  // The remote `sh -c` script is the parent of the blocked shim: kill both, no trap runs.
  const parent = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[1]);
  for (const p of [pid, parent]) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/**
 * Waits until nothing but the listening sshd runs in the host (an orphaned apply script finished),
 * so that the next step starts from a quiet host.
 */
export async function quiesce(host: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let left = hostProcesses(host);
  while (left.length > 0 && Date.now() < until) {
    await sleep(50);
    left = hostProcesses(host);
  }
  if (left.length > 0) throw new Error(`${host}: still running after ${timeoutMs} ms: ${left.map((p) => `${p.pid}/${p.comm}`).join(", ")}`);
}

/**
 * Throws unless the host's /etc (in its sshd's mount namespace) is its private copy under the lab
 * state dir: a test that changes /etc must never reach the machine's own.
 */
export function assertPrivateEtc(host: string): void {
  const lab = loadLab();
  if (!lab) throw new Error("lab not up");
  const pid = labHost(lab, host).sshdPid;
  const top = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4] === "/etc")
    .pop();
  const root = top?.split(" ")[3] ?? "";
  if (!root.endsWith(`/hosts/${host}/etc`)) {
    throw new Error(
      `${host}: /etc is not the host's private copy (mount root ${JSON.stringify(root)}); stop and run: lab.sh down && lab.sh up 14`,
    );
  }
}

/** Returns a fault host to pristine: no shims, no control files, rulesets flushed, files restored. */
export async function resetFaultHost(host: string): Promise<void> {
  assertPrivateEtc(host);
  clearFaults(host);
  await resetHost(host);
}

/** Host snapshot for byte-for-byte comparison (the engine tests' helper), with shims out of the way. */
export async function snapshot(host: string): Promise<string> {
  const noise = existsSync(path.join(ctlDir(host), "noise"));
  if (noise) setNoise(host, false);
  try {
    const base = await snapshotHost(host, hostExec);
    // Temporary files an interrupted write could leave, anywhere the provider writes.
    const tmp = await hostSh(host, "find /etc -name '.ctk-tmp.*' 2>/dev/null | LC_ALL=C sort");
    return `${base}==== leftover temp files\n${tmp}`;
  } finally {
    if (noise) setNoise(host, true);
  }
}

/** Lines of the live raw table / nft table and the saved files that carry a rule name's tag. */
export async function tagCount(host: string, ruleName: string): Promise<{ live: number; saved: number }> {
  return (await tagCounts(host, [ruleName]))[ruleName];
}

/** {@link tagCount} for several rule names, with one look at the host. */
export async function tagCounts(host: string, ruleNames: readonly string[]): Promise<Record<string, { live: number; saved: number }>> {
  const out = await hostSh(
    host,
    // A legacy raw table is read only when it exists: asking iptables-legacy-save for it makes the
    // kernel create it, and the host would then differ from its snapshot because of this look.
    "{ iptables-nft-save -t raw; ip6tables-nft-save -t raw; " +
      "grep -qx raw /proc/net/ip_tables_names && iptables-legacy-save -t raw; " +
      "grep -qx raw /proc/net/ip6_tables_names && ip6tables-legacy-save -t raw; " +
      "nft list table inet pulumi_conntrack; } 2>/dev/null; echo '==== saved'; cat /etc/iptables/rules.v4 /etc/iptables/rules.v6 /etc/nftables.conf 2>/dev/null; true",
  );
  const [live, saved] = out.split("==== saved\n");
  const result: Record<string, { live: number; saved: number }> = {};
  for (const name of ruleNames) {
    const tag = `pulumi-conntrack:${name}:`;
    const count = (s: string) => s.split("\n").filter((l) => l.includes(tag)).length;
    result[name] = { live: count(live), saved: count(saved ?? "") };
  }
  return result;
}

/** Every rule name of a list with exactly `want` live and saved copies (for one assertion over a batch). */
export async function expectEachTagged(
  host: string,
  ruleNames: readonly string[],
  want: { live: number; saved: number },
): Promise<Record<string, { live: number; saved: number }>> {
  const counts = await tagCounts(host, ruleNames);
  const wrong: Record<string, { live: number; saved: number }> = {};
  for (const n of ruleNames) if (counts[n].live !== want.live || counts[n].saved !== want.saved) wrong[n] = counts[n];
  return wrong;
}

/** A lab host's `connection` input (root with the lab key, host key pinned). */
export function connectionOf(host: string, opts: { sudo?: boolean } = {}): Record<string, unknown> {
  return labConnection(host, opts);
}

/** `user@address:22` as errors name a fault host. */
export function labelOf(host: string, user = "root"): string {
  const lab = loadLab();
  if (!lab) throw new Error("lab not up");
  return `${user}@${labHost(lab, host).address}:22`;
}

export { setBackend, hostSh };

/** Runs a local command; resolves with its exit code and output. */
export function runLocal(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env, encoding: "utf8", maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      resolve({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.on("error", () => undefined); // the command may exit before reading stdin: its exit code decides
    child.stdin?.end(opts.input ?? "");
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

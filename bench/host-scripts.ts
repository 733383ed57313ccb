/**
 * What the observe scripts cost a host: CPU time per run and processes started, for each kind's
 * observe script as the provider sends it (the benchmark program's arguments), run on one lab host
 * as root. On this project's machine the lab hosts share the provider's two cores, so their scripts'
 * CPU is most of what a fleet operation costs (see the README's "Benchmark"). Never pass/fail: the
 * times are printed with their ratio to `sh -c true` measured in the same run.
 *
 * A second table runs them as they reach the host: the command line the provider sends, run by the
 * login's shell as sshd runs it (`bash -c LINE`: root's shell on the lab), alone or the three side by
 * side through the observation driver (one channel: a refresh's reads of one host), next to a
 * command that does nothing sent the same ways: what each command costs before its script starts.
 *
 * `npm run lab -- up 1 && npx tsx bench/host-scripts.ts [--runs 30] [--host ctlab1]`. CPU comes
 * from `perf stat` (task-clock of the script and every process it starts); processes from `strace`.
 * Both are needed (`apt install linux-perf strace`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { previousRecordPath } from "../provider/common/previous-record";
import { OBSERVE_SCRIPT as HELPER_SETTING, managedPath } from "../provider/resources/helper-setting/observe";
import { DEFAULT_HELPER_FILE_NAME } from "../provider/resources/helper-setting/schema";
import { OBSERVE_SCRIPT as MODULE_BLACKLIST, observeArgs } from "../provider/resources/module-blacklist/observe";
import { OBSERVE_SCRIPT as NOTRACK_RULE } from "../provider/resources/notrack-rule/observe";
import { observeDriverLine, remoteCommandLine } from "../provider/transport/exec";
import { arg, fmt } from "./cli";

const LAB = path.join(__dirname, "..", "test", "lab", "lab.sh");
const host = arg("host") ?? "ctlab1";
const runs = Number(arg("runs") ?? 30);

/** Runs argv on the lab host as root, as the provider's login would (SSH_CONNECTION set). */
function onHost(argv: readonly string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync("bash", [LAB, "exec", host, "env", "SSH_CONNECTION=10.213.0.1 40000 10.213.0.2 22", ...argv], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Mean task-clock in ms of `runs` runs of argv (perf stat -r). */
function cpuMs(argv: readonly string[]): number {
  const r = onHost(["perf", "stat", "-x,", "-r", String(runs), "-e", "task-clock", ...argv]);
  const line = r.stderr.split("\n").find((l) => l.includes("task-clock"));
  const ms = Number(line?.split(",")[0]);
  if (!Number.isFinite(ms)) throw new Error(`perf stat gave no task-clock on ${host}: ${r.stderr.slice(0, 400)}`);
  return ms;
}

/**
 * Programs the script runs (successful execve calls, the script's own shell included) and forks it
 * makes (successful fork, vfork and clone calls: each subshell, pipeline element and program start).
 * On a small VM a fork of the shell is most of what a program start costs (page tables copied and
 * torn down), and a subshell pays it without running any program.
 */
function processes(argv: readonly string[]): { execs: number; forks: number } {
  // The lab hosts share the machine's /tmp.
  const dir = mkdtempSync(path.join(tmpdir(), "ctk-bench-strace-"));
  try {
    const out = path.join(dir, "trace");
    // -z: successful calls only; a call another process interrupted is printed in two parts, and
    // only the first names the call (`execve(`, `clone(`); the second reads `<... clone resumed>`.
    onHost(["strace", "-f", "-qq", "-z", "-e", "trace=execve,fork,vfork,clone,clone3", "-e", "signal=none", "-o", out, ...argv]);
    const lines = readFileSync(out, "utf8").split("\n");
    return {
      execs: lines.filter((l) => /execve\(/.test(l)).length,
      forks: lines.filter((l) => /\b(v?fork|clone3?)\(/.test(l)).length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SCRIPTS: Array<[string, string[]]> = [
  ["NotrackRule (IPv4)", ["sh", "-c", NOTRACK_RULE, "sh", "4", ""]],
  [
    "ConntrackHelperSetting",
    ["sh", "-c", HELPER_SETTING, "sh", managedPath(DEFAULT_HELPER_FILE_NAME), previousRecordPath(DEFAULT_HELPER_FILE_NAME)],
  ],
  [
    "ModuleBlacklist (2 modules, NOTRACK scan)",
    [
      "sh",
      "-c",
      MODULE_BLACKLIST,
      "sh",
      ...observeArgs("/etc/modprobe.d/pulumi-conntrack-blacklist.conf", ["nf_conntrack_ftp", "nf_nat_ftp"], {
        initramfs: false,
        notrack: true,
      }),
    ],
  ],
];

// The unit: what starting one small program costs (a shell running /bin/true 20 times, per run).
const BASELINE = ["sh", "-c", "i=0; while [ $i -lt 20 ]; do /bin/true; i=$((i + 1)); done"];
const base = cpuMs(BASELINE) / 20;
console.log(`host scripts on ${host}, ${runs} runs each, ${new Date().toISOString()}`);
console.log("| script | CPU ms per run | x one program start | programs run (execve) | forks |");
console.log("| --- | ---: | ---: | ---: | ---: |");
console.log(`| one program start (baseline: /bin/true 20 times, per start) | ${fmt(base, 2)} | 1.0 | 1 | 1 |`);
let total = 0;
let execs = 0;
let forks = 0;
for (const [name, argv] of SCRIPTS) {
  const ms = cpuMs(argv);
  const n = processes(argv);
  total += ms;
  execs += n.execs;
  forks += n.forks;
  console.log(`| ${name} | ${fmt(ms)} | ${fmt(ms / base)} | ${n.execs} | ${n.forks} |`);
}
console.log(`| all three (a refresh's reads of one host) | ${fmt(total)} | ${fmt(total / base)} | ${execs} | ${forks} |`);

// As sent: sshd runs the login's shell with `-c LINE` (this login: root, whose shell is bash).
const line = (argv: readonly string[]) => remoteCommandLine({ sudo: false }, argv);
const NOTHING = ["sh", "-c", "true"];
const SENT: Array<[string, string[]]> = [
  ["a command that does nothing, alone on its channel", ["bash", "-c", line(NOTHING)]],
  ["three that do nothing, on one channel (observation driver)", ["bash", "-c", observeDriverLine([NOTHING, NOTHING, NOTHING].map(line))]],
  ["NotrackRule (IPv4), alone on its channel", ["bash", "-c", line(SCRIPTS[0][1])]],
  ["all three, on one channel (a refresh's reads of one host)", ["bash", "-c", observeDriverLine(SCRIPTS.map(([, a]) => line(a)))]],
];
console.log("");
console.log("| as sent (login shell -c LINE) | CPU ms per run | x one program start | programs run (execve) | forks |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const [name, argv] of SENT) {
  const ms = cpuMs(argv);
  const n = processes(argv);
  console.log(`| ${name} | ${fmt(ms)} | ${fmt(ms / base)} | ${n.execs} | ${n.forks} |`);
}

/**
 * Fleet benchmark under the engine's own parallelism (issue #10). The program shape per host: the
 * helper setting off, the seed's eight DNS NOTRACK rules, one ModuleBlacklist (10 resources). Each
 * operation runs as the engine runs it: a fresh SDK dynamic-provider server, one gRPC call per step,
 * at most `--parallel` steps in flight (4 x CPUs, 16, unbounded), on 10 and on 50 lab hosts. Per
 * operation it prints wall time, the ratio to the ssh2 floor and to the OpenSSH floor (one fresh
 * connection + `true` per host, all hosts at once) measured in the same run, SSH connections and
 * remote commands per host as the provider process counted them, and its peak RSS. Ansible applying
 * the same eight rules is the peer baseline (when installed). Never pass/fail: the machine is shared.
 *
 *   npm run lab -- up 50 && npm run build && npm run bench
 *   npm run bench -- --hosts 10,50 --parallel 8,16,0 --floor-rounds 3 [--ansible-hosts 10 | --no-ansible] [--memory 100]
 *
 * `--parallel 0` is unbounded. `--memory N` adds a run of 50 hosts x (N + 2) resources (N NOTRACK
 * rules per host) at parallelism 16: cold up and destroy, for the provider's memory.
 */
import { cpus } from "node:os";
import { ansibleVersion, playbook, runPlaybook } from "./ansible";
import { arg, fmt, list, median } from "./cli";
import { DNS_RULES } from "./dns-rules";
import { coldUp, destroy, noopUp, refresh, type PhaseResult } from "./engine-ops";
import { opensshFloor, readFloor, ssh2Floor } from "./floor";
import { labForBench } from "./hosts";
import { fleetProgram, typeToken } from "./program";
import { serializedProviders } from "./providers";

const HOST_COUNTS = list(arg("hosts"), [10, 50]);
const PARALLEL = list(arg("parallel"), [4 * cpus().length, 16, 0]);
const FLOOR_ROUNDS = Number(arg("floor-rounds") ?? 3);
const MEMORY_RULES = Number(arg("memory") ?? 0);
const ANSIBLE_HOSTS = process.argv.includes("--no-ansible") ? [] : list(arg("ansible-hosts"), [10]);

interface Row {
  hosts: number;
  parallel: string;
  phase: string;
  r: PhaseResult;
  floor: number;
  openssh: number;
}

const rows: Row[] = [];

function print(title: string, rs: readonly Row[], resourcesPerHost: number): void {
  console.log(`\n${title}`);
  console.log(
    "| hosts | parallel | phase | wall s | x ssh2 floor | x OpenSSH floor | conns/host | cmds/host | channels/host | provider CPU s | provider peak RSS MB | failed | machine CPU s (busy) | provider / engine stand-in / rest CPU s |",
  );
  console.log("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const x of rs) {
    console.log(
      `| ${x.hosts} | ${x.parallel} | ${x.phase} | ${fmt(x.r.ms / 1000, 2)} | ${fmt(x.r.ms / x.floor)} | ${fmt(x.r.ms / x.openssh)} | ${fmt(x.r.dials / x.hosts)} | ${fmt(x.r.commands / x.hosts)} | ${fmt(x.r.channels / x.hosts)} | ${fmt(x.r.cpuSeconds)} | ${fmt(x.r.peakRssMb, 0)} | ${x.r.failed}${x.r.firstError ? ` (${x.r.firstError.split("\n")[0].slice(0, 120)})` : ""} | ${cpuCells(x.r)} |`,
    );
  }
  void resourcesPerHost;
}

/**
 * The machine's CPU during a phase and who used it; "rest" is the lab hosts (their sshd and
 * scripts run on the same cores) and the kernel. Empty for the floors.
 */
function cpuCells(r: PhaseResult): string {
  if (!r.cpu) return "- | -";
  const { machine, busy, provider, engine } = r.cpu;
  return `${fmt(machine)} (${fmt(busy * 100, 0)}%) | ${fmt(provider)} / ${fmt(engine)} / ${fmt(machine - provider - engine)}`;
}

async function floors(n: number): Promise<{ ssh2: number; openssh: number }> {
  const lab = labForBench(n);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < FLOOR_ROUNDS; i++) {
    a.push(await ssh2Floor(lab.hosts, lab.privateKey));
    b.push(await opensshFloor(lab.hosts, lab.keyPath, lab.knownHosts));
  }
  return { ssh2: median(a), openssh: median(b) };
}

async function main(): Promise<void> {
  const providers = await serializedProviders(["ConntrackHelperSetting", "NotrackRule", "ModuleBlacklist"].map(typeToken));
  const started = new Date();
  console.log(
    `fleet benchmark, ${started.toISOString()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load ${(await import("node:os"))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  console.log(
    `program: per host 1 ConntrackHelperSetting (off) + ${DNS_RULES.length} NotrackRule (DNS) + 1 ModuleBlacklist; a fresh provider server per operation`,
  );

  for (const n of HOST_COUNTS) {
    const lab = labForBench(n);
    const program = fleetProgram(lab.hosts, lab.privateKey);
    for (const p of PARALLEL) {
      const f = await floors(n);
      const label = p === 0 ? "unbounded" : String(p);
      const limit = p === 0 ? Infinity : p;
      const up = await coldUp(program, providers, limit);
      const push = (phase: string, r: PhaseResult) => rows.push({ hosts: n, parallel: label, phase, r, floor: f.ssh2, openssh: f.openssh });
      push("cold up", up.result);
      push("no-op up", await noopUp(up.stored, providers, limit));
      // The hosts as the refresh will find them: what its reads cost the hosts alone.
      const reads: number[] = [];
      for (let i = 0; i < FLOOR_ROUNDS; i++) reads.push(await readFloor(program));
      push("refresh", await refresh(up.stored, providers, limit));
      push("destroy", await destroy(up.stored, providers, limit));
      push("floor ssh2 (connect + true)", { ms: f.ssh2, dials: n, commands: n, channels: n, cpuSeconds: NaN, peakRssMb: NaN, failed: 0 });
      push("floor: a refresh's reads (connect + the 3 observe scripts, all hosts at once)", {
        ms: median(reads),
        dials: n,
        commands: 3 * n,
        channels: n,
        cpuSeconds: NaN,
        peakRssMb: NaN,
        failed: 0,
      });
      push("floor OpenSSH (connect + true)", {
        ms: f.openssh,
        dials: n,
        commands: n,
        channels: n,
        cpuSeconds: NaN,
        peakRssMb: NaN,
        failed: 0,
      });
      print(
        `${n} hosts, parallel ${label}`,
        rows.filter((x) => x.hosts === n && x.parallel === label),
        10,
      );
    }
    if (ANSIBLE_HOSTS.includes(n)) {
      const version = await ansibleVersion();
      if (!version) console.log("\nansible: not installed (apt-get install ansible): no peer baseline");
      else {
        const f = await floors(n);
        const yaml = (s: "present" | "absent") => playbook(DNS_RULES, s);
        const a = { apply: await runPlaybook(lab.hosts, lab.keyPath, lab.knownHosts, yaml("present")) };
        const again = await runPlaybook(lab.hosts, lab.keyPath, lab.knownHosts, yaml("present"));
        const remove = await runPlaybook(lab.hosts, lab.keyPath, lab.knownHosts, yaml("absent"));
        const r = (ms: number): PhaseResult => ({
          ms,
          dials: NaN,
          commands: NaN,
          channels: NaN,
          cpuSeconds: NaN,
          peakRssMb: NaN,
          failed: 0,
        });
        const ar: Row[] = [
          { hosts: n, parallel: `${n} forks`, phase: "ansible: apply 8 rules", r: r(a.apply), floor: f.ssh2, openssh: f.openssh },
          { hosts: n, parallel: `${n} forks`, phase: "ansible: re-run, no change", r: r(again), floor: f.ssh2, openssh: f.openssh },
          { hosts: n, parallel: `${n} forks`, phase: "ansible: remove 8 rules", r: r(remove), floor: f.ssh2, openssh: f.openssh },
        ];
        rows.push(...ar);
        print(`${version}, ${n} hosts`, ar, 8);
      }
    }
  }

  if (MEMORY_RULES > 0) {
    const lab = labForBench(50);
    const program = fleetProgram(lab.hosts, lab.privateKey, MEMORY_RULES - DNS_RULES.length);
    const f = await floors(50);
    const up = await coldUp(program, providers, 16);
    const mem: Row[] = [
      { hosts: 50, parallel: "16", phase: `cold up, ${program.length} resources`, r: up.result, floor: f.ssh2, openssh: f.openssh },
    ];
    mem.push({
      hosts: 50,
      parallel: "16",
      phase: `refresh, ${program.length} resources`,
      r: await refresh(up.stored, providers, 16),
      floor: f.ssh2,
      openssh: f.openssh,
    });
    mem.push({
      hosts: 50,
      parallel: "16",
      phase: `destroy, ${program.length} resources`,
      r: await destroy(up.stored, providers, 16),
      floor: f.ssh2,
      openssh: f.openssh,
    });
    rows.push(...mem);
    print(`memory: 50 hosts x ${program.length / 50} resources`, mem, program.length / 50);
  }

  print(`all rows (${started.toISOString()})`, rows, 10);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * `pulumi-conntrack status` across the lab fleet (issue #11): the command as a user runs it (the
 * built bin, a fresh Node process, host keys checked against the lab's known_hosts, `--json`), on 10
 * and on 50 lab hosts, at its default parallelism (16) and with every host at once. Per run it prints
 * wall time, the ratio to the ssh2 floor and to the OpenSSH floor (one fresh connection + `true` per
 * host, all hosts at once) measured in the same run, SSH connections and remote commands per host as
 * the status process counted them (`bench/probe.cjs`, preloaded), its peak RSS, and how many hosts it
 * read. Never pass/fail: the machine is shared.
 *
 *   npm run lab -- up 50 && npm run build && npm run bench:status [-- --hosts 10,50 --rounds 3]
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { arg, fmt, list, median } from "./cli";
import { opensshFloor, ssh2Floor } from "./floor";
import { labForBench } from "./hosts";

const HOST_COUNTS = list(arg("hosts"), [10, 50]);
const ROUNDS = Number(arg("rounds") ?? 3);
const ROOT = path.resolve(__dirname, "..");
const BIN = path.join(ROOT, "dist", "provider", "status", "cli.js");

interface Run {
  ms: number;
  dials: number;
  commands: number;
  peakRssMb: number;
  read: number;
  exitCode: number;
}

/** One run of the status command over `hosts`, as a user starts it. */
async function statusRun(addresses: string[], keyPath: string, knownHosts: string, parallel: number): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), "ctk-bench-status-"));
  const probe = path.join(dir, "probe.json");
  const args = [BIN, "status", "--hosts", addresses.join(","), "--user", "root", "--key", keyPath];
  args.push("--known-hosts", knownHosts, "--json", "--parallel", String(parallel));
  const started = performance.now();
  const r = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile(
      process.execPath,
      args,
      {
        env: { ...process.env, NODE_OPTIONS: `--require ${path.join(__dirname, "probe.cjs")}`, CONNTRACK_BENCH_PROBE: probe },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  );
  const ms = performance.now() - started;
  const p = JSON.parse(readFileSync(probe, "utf8")) as { dials: number; commands: number; peakRssKb: number };
  rmSync(dir, { recursive: true, force: true });
  let read = 0;
  try {
    const rows = JSON.parse(r.stdout) as { hosts?: { ok: boolean }[] } | { ok: boolean }[];
    const list = Array.isArray(rows) ? rows : (rows.hosts ?? []);
    read = list.filter((x) => x.ok).length;
  } catch {
    read = 0;
  }
  return { ms, dials: p.dials, commands: p.commands, peakRssMb: p.peakRssKb / 1024, read, exitCode: r.code };
}

async function main(): Promise<void> {
  console.log(
    `status benchmark, ${new Date().toISOString()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}; median of ${ROUNDS} rounds`,
  );
  console.log(
    "| hosts | parallel | run | wall s | x ssh2 floor | x OpenSSH floor | conns/host | cmds/host | peak RSS MB | hosts read | exit |",
  );
  console.log("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const n of HOST_COUNTS) {
    const lab = labForBench(n);
    const addresses = lab.hosts.map((h) => h.address);
    for (const parallel of [16, n]) {
      const a: number[] = [];
      const b: number[] = [];
      const runs: Run[] = [];
      // Floors and runs alternate, so that the machine's load weighs on both alike.
      for (let i = 0; i < ROUNDS; i++) {
        a.push(await ssh2Floor(lab.hosts, lab.privateKey));
        b.push(await opensshFloor(lab.hosts, lab.keyPath, lab.knownHosts));
        runs.push(await statusRun(addresses, lab.keyPath, lab.knownHosts, parallel));
      }
      const [f, o] = [median(a), median(b)];
      const ms = median(runs.map((r) => r.ms));
      const last = runs[runs.length - 1];
      const row = (label: string, wall: number, conns: number, cmds: number, rss: number, read: string, exit: string) =>
        console.log(
          `| ${n} | ${parallel === n ? `${n} (all)` : parallel} | ${label} | ${fmt(wall / 1000, 2)} | ${fmt(wall / f)} | ${fmt(wall / o)} | ${fmt(conns)} | ${fmt(cmds)} | ${fmt(rss, 0)} | ${read} | ${exit} |`,
        );
      row(
        "pulumi-conntrack status --json",
        ms,
        last.dials / n,
        last.commands / n,
        last.peakRssMb,
        `${last.read}/${n}`,
        String(last.exitCode),
      );
      row("floor ssh2 (connect + true)", f, 1, 1, Number.NaN, "-", "-");
      row("floor OpenSSH (connect + true)", o, 1, 1, Number.NaN, "-", "-");
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * `pulumi up` of examples/dns-servers on N lab hosts (helpers off + 8 NOTRACK rules per host):
 * wall time on the real Pulumi CLI (scripts/pulumi-inline.ts, one process per operation, as a user
 * runs it) next to the engine stand-in (test/engine) doing the same work, in the same run, hosts
 * reset between runs. Also the no-change `preview` and the `destroy`. Prints numbers, never
 * pass/fail (the machine is shared and noisy).
 *
 *   npm run lab -- up 10 && npx tsx bench/engine-up.ts [--hosts 10] [--rounds 2]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pulumiCli, RealStack, REPO, versionOf } from "../scripts/real-engine";
import { Engine } from "../test/engine/engine";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const HOSTS = arg("hosts", 10);
const ROUNDS = arg("rounds", 2);
const EXAMPLE = path.join(REPO, "examples", "dns-servers");
const LAB = path.join(REPO, "test", "lab", "lab.sh");

const lab = (args: string[]) => {
  const r = spawnSync("bash", [LAB, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lab.sh ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const inv = JSON.parse(lab(["inventory"])) as {
    privateKeyPath: string;
    knownHostsPath: string;
    hosts: { name: string; address: string }[];
  };
  const hosts = inv.hosts.slice(0, HOSTS);
  if (hosts.length < HOSTS) throw new Error(`the lab has ${inv.hosts.length} hosts, ${HOSTS} asked`);
  const config = {
    privateKeyFile: inv.privateKeyPath,
    knownHostsFile: inv.knownHostsPath,
    hosts: hosts.map((h) => ({ name: h.name, address: h.address })),
  };
  const reset = () => hosts.forEach((h) => lab(["reset", h.name]));
  const rows: Record<string, number[]> = {};
  const add = (k: string, s: number) => (rows[k] ??= []).push(s);

  for (let round = 0; round < ROUNDS; round++) {
    reset();
    const real = new RealStack(EXAMPLE, "bench", config);
    const ok = (r: { exitCode: number; stderr: string; op: string }) => {
      if (r.exitCode !== 0) throw new Error(`pulumi ${r.op} exited ${r.exitCode}: ${r.stderr}`);
    };
    add("real: up", await timed(async () => ok(await real.run("up"))));
    add("real: preview (no change)", await timed(async () => ok(await real.run("preview"))));
    add("real: destroy", await timed(async () => ok(await real.run("destroy"))));
    real.remove();

    reset();
    const dir = mkdtempSync(path.join(tmpdir(), "ctk-bench-standin-"));
    const engine = new Engine({ projectDir: EXAMPLE, stack: "bench", stateFile: path.join(dir, "bench.json"), config });
    const ok2 = (r: { ok: boolean; errors: string[]; kind: string }) => {
      if (!r.ok) throw new Error(`stand-in ${r.kind}: ${r.errors.join("\n")}`);
    };
    add("stand-in: up", await timed(async () => ok2(await engine.up())));
    add("stand-in: preview (no change)", await timed(async () => ok2(await engine.preview())));
    add("stand-in: destroy", await timed(async () => ok2(await engine.destroy())));
    rmSync(dir, { recursive: true, force: true });
  }
  reset();
  console.log(
    `examples/dns-servers on ${HOSTS} lab hosts (${HOSTS * 9} resources), ${ROUNDS} rounds; Pulumi CLI ${versionOf(pulumiCli())}`,
  );
  for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(32)} ${v.map((s) => s.toFixed(1)).join(" s, ")} s`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

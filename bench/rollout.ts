/**
 * Fleet rollout benchmark: the seed's DNS case (eight NOTRACK rules + helper assignment off) on N lab
 * hosts at once, through the same handlers the serialized provider calls, against two baselines
 * measured in the same run: the raw SSH floor (one fresh connection and one command per host) and
 * Ansible applying the same eight rules. Prints medians and ratios, never pass/fail: the machines
 * are shared and noisy.
 *
 *   npm run lab -- up 10 && npm run bench [-- --hosts 8 --rounds 3]
 */
import { handler } from "../provider/runtime";
import { closeAll, dialStats, execStats } from "../provider/transport";
import { ansibleVersion, playbook, runPlaybook } from "./ansible";
import { DNS_RULES } from "./dns-rules";
import { opensshFloor, ssh2Floor } from "./floor";
import { labForBench } from "./hosts";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const HOSTS = arg("hosts", 8);
const ROUNDS = arg("rounds", 3);

interface Sample {
  ms: number;
  commands: number;
  dials: number;
}

async function measured(fn: () => Promise<unknown>): Promise<Sample> {
  const c0 = execStats.commands;
  const d0 = dialStats.dials;
  const t0 = performance.now();
  await fn();
  return { ms: performance.now() - t0, commands: execStats.commands - c0, dials: dialStats.dials - d0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const lab = labForBench(HOSTS);
  const rule = handler("NotrackRule");
  const helper = handler("ConntrackHelperSetting");
  const conn = (h: (typeof lab.hosts)[number]) => ({ host: h.address, user: "root", privateKey: lab.privateKey, hostKey: h.hostKey });

  type Created = { kind: typeof rule; id: string; outs: Record<string, unknown> };
  let created: Created[] = [];
  const checked = async (kind: typeof rule, news: Record<string, unknown>) => {
    const r = await kind.check({}, news);
    if (r.failures?.length) throw new Error(`check failed: ${JSON.stringify(r.failures)}`);
    return r.inputs as Record<string, unknown>;
  };
  const inputs = await Promise.all(
    lab.hosts.flatMap((h) => [
      ...DNS_RULES.map(async (r) => ({ kind: rule, news: await checked(rule, { connection: conn(h), ruleName: `bench-${r.name}`, chain: r.chain, protocol: r.protocol, sourcePort: r.sourcePort, destinationPort: r.destinationPort, family: "ipv4", backend: "auto", persist: true }) })),
      checked(helper, { connection: conn(h), enabled: false }).then((news) => ({ kind: helper, news })),
    ]),
  );

  const samples: Record<string, Sample[]> = {};
  const add = (k: string, s: Sample) => (samples[k] ??= []).push(s);
  const ansible = await ansibleVersion();

  for (let round = 0; round < ROUNDS; round++) {
    // The floors bypass the package's transport, so its counters cannot see them: by construction
    // they make one connection and run one command per host.
    const byConstruction = (ms: number): Sample => ({ ms, commands: HOSTS, dials: HOSTS });
    add("floor: ssh2, 1 connection + 1 command per host", byConstruction(await ssh2Floor(lab.hosts, lab.privateKey)));
    add("floor: OpenSSH client, same", byConstruction(await opensshFloor(lab.hosts, lab.keyPath, lab.knownHosts)));

    await closeAll();
    add("pulumi-conntrack: up (create 9 resources/host)", await measured(async () => {
      created = await Promise.all(inputs.map(async ({ kind, news }) => ({ kind, ...(await kind.create(news)) }) as Created));
    }));
    add("pulumi-conntrack: preview, no change (diff)", await measured(() => Promise.all(created.map((c, i) => c.kind.diff(c.id, c.outs, inputs[i].news)))));
    add("pulumi-conntrack: refresh (read)", await measured(() => Promise.all(created.map((c) => c.kind.read(c.id, c.outs)))));
    add("pulumi-conntrack: destroy (delete)", await measured(() => Promise.all(created.map((c) => c.kind.delete(c.id, c.outs)))));
    await closeAll();

    if (ansible) {
      add("ansible: apply 8 rules/host", { ms: await runPlaybook(lab.hosts, lab.keyPath, lab.knownHosts, playbook(DNS_RULES, "present")), commands: NaN, dials: NaN });
      add("ansible: re-run, no change", { ms: await runPlaybook(lab.hosts, lab.keyPath, lab.knownHosts, playbook(DNS_RULES, "present")), commands: NaN, dials: NaN });
      add("ansible: remove 8 rules/host", { ms: await runPlaybook(lab.hosts, lab.keyPath, lab.knownHosts, playbook(DNS_RULES, "absent")), commands: NaN, dials: NaN });
    }
  }

  const floor = median(samples["floor: ssh2, 1 connection + 1 command per host"].map((s) => s.ms));
  const ansibleApply = samples["ansible: apply 8 rules/host"] ? median(samples["ansible: apply 8 rules/host"].map((s) => s.ms)) : NaN;
  console.log(`\nfleet rollout: ${HOSTS} hosts x (8 NOTRACK rules + 1 helper setting), ${ROUNDS} rounds, medians`);
  console.log(ansible ? `ansible: ${ansible}` : "ansible: not installed (apt-get install ansible) — its rows are missing");
  console.log(`${"step".padEnd(52)} ${"ms".padStart(8)} ${"x floor".padStart(8)} ${"x ansible".padStart(9)} ${"cmds/host".padStart(9)} ${"dials".padStart(6)}`);
  for (const [k, xs] of Object.entries(samples)) {
    const ms = median(xs.map((s) => s.ms));
    const cmds = median(xs.map((s) => s.commands)) / HOSTS;
    const dials = median(xs.map((s) => s.dials));
    console.log(
      `${k.padEnd(52)} ${ms.toFixed(0).padStart(8)} ${(ms / floor).toFixed(2).padStart(8)} ${(ms / ansibleApply).toFixed(2).padStart(9)} ${(Number.isNaN(cmds) ? "-" : cmds.toFixed(1)).padStart(9)} ${(Number.isNaN(dials) ? "-" : String(dials)).padStart(6)}`,
    );
  }
  await closeAll();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

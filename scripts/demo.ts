/**
 * `npm run demo` (as root): the product at work on a small local lab, with the real Pulumi CLI.
 *
 * 1. Starts a lab of 3 network-namespace hosts (`test/lab/lab.sh up 3`), or, when a lab is already
 *    running, borrows its ctlab9 and ctlab10 (or its last two hosts), reset before and after.
 * 2. `pulumi up` of the `examples/dns-servers` program on two hosts: automatic helper assignment off
 *    and port 53 untracked over TCP and UDP in both directions.
 * 3. `pulumi preview` of a change (IPv6 too), a rule deleted by hand that `pulumi refresh` reports
 *    and the next `pulumi up` puts back, and a `pulumi destroy` that leaves the hosts as they were.
 *
 * The CLI is the pinned one built from its Go module (`scripts/pulumi-cli.sh`, built here when this
 * machine has none), with a local file backend in a temporary directory and no network use. The
 * program runs through the Automation API's inline-program path (`scripts/pulumi-inline.ts`: no
 * Node.js language host can be built here); what is printed is the CLI's own output.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";
import { labExec, snapshotHosts, type LabHostInfo } from "./lab-hosts";
import { pulumiCli, RealStack, versionOf, type CliRun } from "./real-engine";

const REPO = path.resolve(__dirname, "..");
const EXAMPLE = path.join(REPO, "examples", "dns-servers");
const LAB = path.join(REPO, "test", "lab", "lab.sh");

interface Lab {
  privateKeyPath: string;
  knownHostsPath: string;
  hosts: (LabHostInfo & { sshdPid: number })[];
}

const t0 = Date.now();
const out = (s = "") => process.stdout.write(`${s}\n`);
const step = (n: number, title: string) => out(`\n== ${n}. ${title}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
const indent = (lines: string[]) => lines.forEach((l) => out(`   ${l}`));

function lab(args: string[], inherit = false): string {
  const r = spawnSync("bash", [LAB, ...args], { encoding: "utf8", stdio: inherit ? "inherit" : "pipe" });
  if (r.status !== 0) throw new Error(`lab.sh ${args.join(" ")} failed (exit ${r.status}): ${r.stderr ?? ""}`);
  return r.stdout ?? "";
}

function running(): Lab | undefined {
  const inv = spawnSync("bash", [LAB, "inventory"], { encoding: "utf8" });
  if (inv.status !== 0) return undefined;
  const l = JSON.parse(inv.stdout) as Lab;
  const dead = l.hosts.filter((h) => !existsSync(`/proc/${h.sshdPid}`)).map((h) => h.name);
  if (dead.length) throw new Error(`a lab is listed but sshd of ${dead.join(", ")} is gone: run npm run lab -- down`);
  return l;
}

function newest(dir: string, ext: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n = Math.max(n, e.isDirectory() ? newest(p, ext) : e.name.endsWith(ext) ? statSync(p).mtimeMs : 0);
  }
  return n;
}

function ensureBuilt(): void {
  const dist = path.join(REPO, "dist", "provider");
  if (existsSync(path.join(dist, "runtime", "index.js")) && newest(path.join(REPO, "provider"), ".ts") <= newest(dist, ".js")) return;
  out("building the package (npm run build) ...");
  const r = spawnSync("npm", ["run", "-s", "build"], { cwd: REPO, stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm run build failed");
}

/** Runs one CLI operation, printing the CLI's output as it comes; throws when the CLI fails. */
async function pulumi(stack: RealStack, op: string, flags: string[] = []): Promise<CliRun> {
  out(`   $ pulumi ${op}${flags.length ? ` ${flags.join(" ")}` : ""}`);
  let partial = "";
  const r = await stack.run(op, flags, (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    indent(lines.map((l) => `  ${l}`));
  });
  if (partial) indent([`  ${partial}`]);
  if (r.exitCode !== 0) throw new Error(`pulumi ${op} exited with ${r.exitCode}:\n${r.stderr}`);
  out(`   (exit 0, ${(r.ms / 1000).toFixed(1)} s)`);
  return r;
}

async function sh(host: string, command: string): Promise<string> {
  const r = await labExec(host, ["bash", "-c", command]);
  if (r.code !== 0) throw new Error(`${host}: ${command}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The NOTRACK rules of this package on a host, whichever backend holds them. */
async function rulesOn(host: string): Promise<string[]> {
  const text = await sh(host, "nft list ruleset 2>/dev/null; iptables-save -t raw 2>/dev/null; ip6tables-save -t raw 2>/dev/null");
  return [
    ...new Set(
      text
        .split("\n")
        .filter((l) => l.includes("pulumi-conntrack:") && /notrack|NOTRACK/.test(l))
        .map((l) => l.trim()),
    ),
  ];
}

async function main(): Promise<number> {
  out("pulumi-conntrack demo: the dns-servers example on a local lab");
  if (process.getuid?.() !== 0) {
    out("The lab (network namespaces with their own sshd) needs root: run it as root (sudo npm run demo).");
    return 1;
  }
  ensureBuilt();

  let started = false;
  let l = running();
  if (l) {
    const names = l.hosts.some((h) => h.name === "ctlab10") ? ["ctlab9", "ctlab10"] : l.hosts.slice(-2).map((h) => h.name);
    l = { ...l, hosts: l.hosts.filter((h) => names.includes(h.name)) };
    out(`A lab is running: borrowing ${names.join(" and ")} (reset before and after; do not run the lab tests at the same time).`);
    for (const h of names) lab(["reset", h]);
  } else {
    out("No lab running: starting one with 3 hosts (test/lab/lab.sh up 3); it is stopped at the end.");
    lab(["up", "3"], true);
    started = true;
    const all = running();
    if (!all) throw new Error("lab.sh up 3 finished but no inventory is listed");
    l = { ...all, hosts: all.hosts.slice(0, 2) };
  }
  const hosts = l.hosts.map((h) => h.name);
  const config = {
    privateKeyFile: l.privateKeyPath,
    knownHostsFile: l.knownHostsPath,
    hosts: l.hosts.map((h) => ({ name: h.name, address: h.address })),
    // Each `up` reads the hosts' conntrack status (count / max, NOTRACK packet counters) into the `status` output.
    reportStatus: true,
  };

  const cli = pulumiCli();
  const stack = new RealStack(EXAMPLE, "demo", config);
  const label = `the real Pulumi CLI ${versionOf(cli)}`;
  out(`\nPath: ${label} (${cli})`);
  out(`   local file backend ${stack.env.PULUMI_BACKEND_URL}, PULUMI_CONFIG_PASSPHRASE for secrets, no network use;`);
  out("   the program runs through the Automation API's inline-program path (scripts/pulumi-inline.ts), the");
  out("   dynamic-provider plugin pulumi-resource-pulumi-nodejs comes from @pulumi/pulumi.");

  let failed = false;
  let created = false;
  try {
    const before = await snapshotHosts(hosts, labExec);

    step(1, `pulumi up: ${hosts.join(", ")}: helpers off, NOTRACK for port 53 (TCP and UDP, both directions)`);
    created = true;
    await pulumi(stack, "up");
    for (const h of hosts) {
      const rules = await rulesOn(h);
      out(`   on ${h} (read with nft/iptables, not through the provider): ${rules.length} NOTRACK rules`);
      indent(rules.slice(0, 8).map((r) => `  ${r}`));
    }

    step(2, "pulumi preview of a change: IPv6 as well (nothing is changed)");
    stack.setConfig({ ...config, families: ["ipv4", "ipv6"] });
    try {
      await pulumi(stack, "preview");
    } finally {
      stack.setConfig(config);
    }

    const victim = `${hosts[0]}-dns-ipv4-udp-in-dport`;
    step(3, `a change by hand: the rule ${victim} deleted on ${hosts[0]}, then pulumi refresh`);
    const del =
      `h=$(nft -a list chain inet pulumi_conntrack prerouting 2>/dev/null | awk '/pulumi-conntrack:${victim}:/ {print $NF}'); ` +
      `if [ -n "$h" ]; then nft delete rule inet pulumi_conntrack prerouting handle "$h"; ` +
      `else r=$(iptables -t raw -S | grep 'pulumi-conntrack:${victim}:'); eval "iptables -t raw \${r/-A /-D }"; fi`;
    await sh(hosts[0], del);
    out(`   ${hosts[0]} now has ${(await rulesOn(hosts[0])).length} rules`);
    await pulumi(stack, "refresh");

    const [from, to] = l.hosts;
    out(`   meanwhile, DNS traffic: 20 UDP queries from ${from.name} to ${to.name}:53 (untracked: they count in the NOTRACK rules)`);
    await sh(from.name, `for i in $(seq 20); do printf 'q' > /dev/udp/${to.address}/53 || true; done`);

    step(4, "pulumi up: puts the rule back, and reports the status (table count / max, NOTRACK packets)");
    await pulumi(stack, "up");
    out(`   ${hosts[0]} has ${(await rulesOn(hosts[0])).length} rules again`);

    step(5, "pulumi destroy");
    await pulumi(stack, "destroy");
    created = false;
    const after = await snapshotHosts(hosts, labExec);
    for (const h of hosts) {
      const same = after[h] === before[h];
      out(
        `   ${h}: raw tables, nftables ruleset, /etc/modprobe.d, /etc/iptables, /etc/nftables.conf ${same ? "byte for byte as before step 1" : "DIFFER from before step 1"}`,
      );
      if (!same) failed = true;
    }
  } catch (e) {
    failed = true;
    out(`\nFAILED: ${(e as Error).message}`);
  } finally {
    if (created) await stack.run("destroy").catch((e) => out(`cleanup: ${(e as Error).message}`));
    stack.remove();
    if (started) {
      out("\nstopping the lab (test/lab/lab.sh down)");
      lab(["down"], true);
    } else for (const h of hosts) lab(["reset", h]);
  }
  out(`\n${failed ? "FAILED" : "Done"} in ${((Date.now() - t0) / 1000).toFixed(0)} s. Path: ${label}.`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    out(`FAILED: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);

/**
 * `npm run demo` (as root): the product at work on a small local lab, in about a minute.
 *
 * 1. Starts a lab of 3 network-namespace hosts (`test/lab/lab.sh up 3`), or, when a lab is already
 *    running, borrows its ctlab9 and ctlab10 (or its last two hosts), reset before and after.
 * 2. Rolls the `examples/dns-servers` program out to two hosts: automatic helper assignment off and
 *    port 53 untracked over TCP and UDP in both directions.
 * 3. Shows a preview of a change (IPv6 too), a rule deleted by hand that `refresh` reports and the
 *    next `up` puts back, and a destroy that leaves the hosts as they were.
 *
 * With the Pulumi CLI installed (`pulumi` on PATH) it runs `pulumi up`/`preview`/`refresh`/`destroy`
 * through the Automation API with a local file backend. Without it, the program runs under the
 * SDK's own launcher against this repository's engine stand-in (test/engine), which drives the SDK's
 * dynamic-provider server exactly as the engine would. It says which path it took.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Engine, type OperationResult } from "../test/engine/engine";
import { labExec, snapshotHosts, type LabHostInfo } from "../test/engine/lab-hosts";
import { diagnostics, formatSteps, summarize } from "../test/engine/report";

const REPO = path.resolve(__dirname, "..");
const EXAMPLE = path.join(REPO, "examples", "dns-servers");
const LAB = path.join(REPO, "test", "lab", "lab.sh");
const PROJECT = "dns-servers";

interface Lab {
  privateKeyPath: string;
  knownHostsPath: string;
  hosts: (LabHostInfo & { sshdPid: number })[];
}

/** The same operations on either path; each returns what to print, and throws on failure. */
interface Runner {
  label: string;
  detail: string;
  up(): Promise<string[]>;
  previewWith(extra: Record<string, unknown>): Promise<string[]>;
  refresh(): Promise<string[]>;
  destroy(): Promise<string[]>;
  close(): Promise<void>;
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

function formatResult(r: OperationResult): string[] {
  if (!r.ok) throw new Error(`${r.kind} failed:\n${diagnostics(r).join("\n")}`);
  return [...formatSteps(r), ...diagnostics(r), summarize(r)];
}

/** Without the CLI: the program under @pulumi/pulumi/cmd/run, the engine stand-in, the SDK's dynamic-provider server. */
function harnessRunner(config: Record<string, unknown>): Runner {
  const dir = mkdtempSync(path.join(tmpdir(), "ctk-demo-"));
  const engine = new Engine({ projectDir: EXAMPLE, stack: "lab", stateFile: path.join(dir, "lab.json"), config });
  return {
    label: "SDK dynamic-provider path (no Pulumi CLI on PATH)",
    detail:
      "The program runs under the SDK's own launcher (@pulumi/pulumi/cmd/run) and registers its resources with a\n" +
      "   stand-in for the Pulumi engine (test/engine), which drives the SDK's dynamic-provider server\n" +
      "   (@pulumi/pulumi/cmd/dynamic-provider) over gRPC as the engine does and keeps the stack's state in\n" +
      `   ${dir}. The stand-in replaces only the CLI's engine; everything else is the real code path.`,
    up: async () => formatResult(await engine.up()),
    async previewWith(extra) {
      engine.setConfig({ ...config, ...extra });
      try {
        return formatResult(await engine.preview());
      } finally {
        engine.setConfig(config);
      }
    },
    refresh: async () => formatResult(await engine.refresh()),
    destroy: async () => formatResult(await engine.destroy()),
    async close() {
      if (engine.current().resources.length) await engine.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** With the CLI: `pulumi` through the Automation API, on a copy of the example, with a file backend. */
async function cliRunner(config: Record<string, unknown>): Promise<Runner> {
  const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
  const work = mkdtempSync(path.join(tmpdir(), "ctk-demo-project-"));
  const backend = mkdtempSync(path.join(tmpdir(), "ctk-demo-backend-"));
  // A copy, so that `pulumi config set` does not write into the repository; node_modules is the
  // repository's, where `pulumi-conntrack` resolves to this checkout.
  for (const f of ["Pulumi.yaml", "package.json", "tsconfig.json", "index.ts"]) copyFileSync(path.join(EXAMPLE, f), path.join(work, f));
  symlinkSync(path.join(REPO, "node_modules"), path.join(work, "node_modules"), "dir");
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "demo", workDir: work },
    { envVars: { PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "pulumi-conntrack demo" } },
  );
  const asConfig = (c: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(c).map(([k, v]) => [`${PROJECT}:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v) }]));
  await stack.setAllConfig(asConfig(config));
  const lines: string[] = [];
  const onOutput = (s: string) => lines.push(...s.replace(/\n$/, "").split("\n"));
  const take = () => lines.splice(0);
  return {
    label: "Pulumi CLI through the Automation API (local file backend)",
    detail: `pulumi ${execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim()}, project copy ${work}, backend file://${backend}`,
    async up() {
      await stack.up({ onOutput });
      return take();
    },
    async previewWith(extra) {
      await stack.setAllConfig(asConfig(extra));
      try {
        await stack.preview({ onOutput });
        return take();
      } finally {
        for (const k of Object.keys(extra)) await stack.removeConfig(`${PROJECT}:${k}`);
      }
    },
    async refresh() {
      await stack.refresh({ onOutput });
      return take();
    },
    async destroy() {
      await stack.destroy({ onOutput });
      return take();
    },
    async close() {
      await stack.destroy({ onOutput: () => undefined }).catch(() => undefined);
      await stack.workspace.removeStack("demo").catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
      rmSync(backend, { recursive: true, force: true });
    },
  };
}

async function sh(host: string, command: string): Promise<string> {
  const r = await labExec(host, ["bash", "-c", command]);
  if (r.code !== 0) throw new Error(`${host}: ${command}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The NOTRACK rules of this package on a host, whichever backend holds them. */
async function rulesOn(host: string): Promise<string[]> {
  const text = await sh(host, "nft list ruleset 2>/dev/null; iptables-save -t raw 2>/dev/null; ip6tables-save -t raw 2>/dev/null");
  return [...new Set(text.split("\n").filter((l) => l.includes("pulumi-conntrack:") && /notrack|NOTRACK/.test(l)).map((l) => l.trim()))];
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
  };

  const cli = spawnSync("bash", ["-c", "command -v pulumi"], { encoding: "utf8" }).status === 0;
  const runner = cli ? await cliRunner(config) : harnessRunner(config);
  out(`\nPath: ${runner.label}`);
  out(`   ${runner.detail}`);

  let failed = false;
  try {
    const before = await snapshotHosts(hosts, labExec);

    step(1, `up: ${hosts.join(", ")}: helpers off, NOTRACK for port 53 (TCP and UDP, both directions)`);
    indent(await runner.up());
    for (const h of hosts) {
      const rules = await rulesOn(h);
      out(`   on ${h} (read with nft/iptables, not through the provider): ${rules.length} NOTRACK rules`);
      indent(rules.slice(0, 8).map((r) => `  ${r}`));
    }

    step(2, "preview of a change: IPv6 as well (nothing is changed)");
    indent(await runner.previewWith({ families: ["ipv4", "ipv6"] }));

    const victim = `${hosts[0]}-dns-ipv4-udp-in-dport`;
    step(3, `a change by hand: the rule ${victim} deleted on ${hosts[0]}, then refresh`);
    const del =
      `h=$(nft -a list chain inet pulumi_conntrack prerouting 2>/dev/null | awk '/pulumi-conntrack:${victim}:/ {print $NF}'); ` +
      `if [ -n "$h" ]; then nft delete rule inet pulumi_conntrack prerouting handle "$h"; ` +
      `else r=$(iptables -t raw -S | grep 'pulumi-conntrack:${victim}:'); eval "iptables -t raw \${r/-A /-D }"; fi`;
    await sh(hosts[0], del);
    out(`   ${hosts[0]} now has ${(await rulesOn(hosts[0])).length} rules`);
    indent(await runner.refresh());

    step(4, "up: puts the rule back");
    indent(await runner.up());
    out(`   ${hosts[0]} has ${(await rulesOn(hosts[0])).length} rules again`);

    step(5, "destroy");
    indent(await runner.destroy());
    const after = await snapshotHosts(hosts, labExec);
    for (const h of hosts) {
      const same = after[h] === before[h];
      out(`   ${h}: raw tables, nftables ruleset, /etc/modprobe.d, /etc/iptables, /etc/nftables.conf ${same ? "byte for byte as before step 1" : "DIFFER from before step 1"}`);
      if (!same) failed = true;
    }
  } catch (e) {
    failed = true;
    out(`\nFAILED: ${(e as Error).message}`);
  } finally {
    await runner.close().catch((e) => out(`cleanup: ${(e as Error).message}`));
    if (started) {
      out("\nstopping the lab (test/lab/lab.sh down)");
      lab(["down"], true);
    } else for (const h of hosts) lab(["reset", h]);
  }
  out(`\n${failed ? "FAILED" : "Done"} in ${((Date.now() - t0) / 1000).toFixed(0)} s. Path: ${runner.label}.`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    out(`FAILED: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);

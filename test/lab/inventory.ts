/**
 * Typed access to the local "lab of hosts" started by `test/lab/lab.sh`.
 *
 * The lab is a set of network-namespace hosts `ctlab1..ctlabN` on this machine, each with a
 * real, stock-configured sshd, its own netfilter/conntrack state and private copies of the
 * /etc paths the provider manages. `lab.sh up N` writes `inventory.json` into the state dir;
 * this module reads it and wraps the script's other commands for tests.
 *
 * @packageDocumentation
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { type TestContext, TestRunner } from "vitest";

/** One lab host, as listed in the inventory. */
export interface LabHost {
  /** Host name, also its hostname inside the host: `ctlab1`, `ctlab2`, ... */
  name: string;
  /** IPv4 address sshd listens on: `10.213.0.(10+I)`. */
  address: string;
  /** IPv6 address sshd listens on: `fd42:c7::(10+I)`. */
  address6: string;
  /** sshd port (always 22). */
  port: number;
  /** The host's ed25519 public host key, `"ssh-ed25519 AAAA..."` (type and base64, no comment). */
  hostKey: string;
  /** `ssh-keygen -lf` style fingerprint of {@link LabHost.hostKey}: `"SHA256:..."`. */
  hostKeyFingerprint: string;
  /** Name of the host's network namespace (`ip netns exec <netns> ...`), same as `name`. */
  netns: string;
  /** pid of the host's sshd (its namespaces are the host's: `nsenter -t <pid> -n -m -u`). */
  sshdPid: number;
}

/** The lab inventory written by `lab.sh up N` to `<stateDir>/inventory.json`. */
export interface LabInventory {
  /** State directory (`$CONNTRACK_LAB_DIR`, default `/run/pulumi-conntrack-lab`). */
  stateDir: string;
  /** Unencrypted ed25519 private key authorized for `root` and {@link LabInventory.user} on every host. */
  privateKeyPath: string;
  /** The matching public key line (`"ssh-ed25519 AAAA... lab"`). */
  publicKey: string;
  /** known_hosts file with every host's ed25519 and rsa keys under both addresses. */
  knownHostsPath: string;
  /** Non-root login user present on every host, with passwordless sudo (`ctlab`). */
  user: string;
  /** Hosts in order: `hosts[0]` is `ctlab1`. */
  hosts: LabHost[];
}

/** Result of running a lab command; a non-zero exit is reported in `code`, never thrown. */
export interface LabCommandResult {
  /** Exit code (`77`: not root; `-1`: the process could not be started or was killed). */
  code: number;
  /** Captured standard output. */
  stdout: string;
  /** Captured standard error. */
  stderr: string;
}

/** Message used when a lab test is skipped because there is no running lab. */
export const LAB_SKIP_MESSAGE = "lab not up (needs root; run: npm run lab -- up 10)";

/** Absolute path of `lab.sh`, next to this file. */
export const LAB_SCRIPT = path.join(__dirname, "lab.sh");

/** The lab state directory: `$CONNTRACK_LAB_DIR` or `/run/pulumi-conntrack-lab`. */
export function labStateDir(): string {
  return process.env.CONNTRACK_LAB_DIR || "/run/pulumi-conntrack-lab";
}

/**
 * Reads `<stateDir>/inventory.json`.
 *
 * @returns the inventory, or `undefined` when there is no inventory file (lab not up).
 * @throws when the file exists but cannot be read or parsed.
 */
export function loadLab(): LabInventory | undefined {
  const file = path.join(labStateDir(), "inventory.json");
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as LabInventory;
}

/** True when this process runs as root (the lab needs root for everything). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Whether a host's sshd is running (alive, not a zombie, and really `sshd`).
 *
 * @param host - a host from the inventory.
 */
export function sshdAlive(host: LabHost): boolean {
  try {
    const stat = readFileSync(`/proc/${host.sshdPid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    const comm = readFileSync(`/proc/${host.sshdPid}/comm`, "utf8").trim();
    return comm === "sshd" && state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * Whether a lab is running: an inventory exists and every listed host's sshd is alive.
 *
 * @param hosts - when given, also require exactly this many hosts.
 */
export function labRunning(hosts?: number): boolean {
  const lab = loadLab();
  if (!lab) return false;
  if (hosts !== undefined && lab.hosts.length !== hosts) return false;
  return lab.hosts.every(sshdAlive);
}

/**
 * Runs `bash test/lab/lab.sh ARGS...` (no shell string is built).
 *
 * @param args - the script's arguments, e.g. `["up", "8"]`.
 * @param stdin - optional data written to the script's standard input.
 * @returns exit code and output; it resolves (does not reject) on a non-zero exit.
 */
export function labCommand(args: string[], stdin?: string): Promise<LabCommandResult> {
  return new Promise((resolve) => {
    const child = execFile("bash", [LAB_SCRIPT, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      let code = 0;
      if (error) code = typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
    // A command that never reads its standard input may exit before this write: EPIPE then is no
    // error of the command (its exit code and output decide), and must not escape as an uncaught one.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(stdin ?? "");
  });
}

async function labCommandOrThrow(args: string[]): Promise<LabCommandResult> {
  const result = await labCommand(args);
  if (result.code !== 0) {
    throw new Error(`lab.sh ${args.join(" ")} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result;
}

/**
 * Runs a command inside a lab host without ssh (`lab.sh exec`: the host's network, mount
 * and UTS namespaces, as root, with a clean environment). Meant for test assertions and
 * setup; use real ssh for whatever the code under test does.
 *
 * @param name - host name, e.g. `"ctlab1"`.
 * @param argv - program and arguments, passed through verbatim (no shell).
 * @param stdin - optional standard input for the command.
 * @returns exit code and output; it resolves (does not reject) on a non-zero exit.
 */
export function hostExec(name: string, argv: string[], stdin?: string): Promise<LabCommandResult> {
  return labCommand(["exec", name, ...argv], stdin);
}

/**
 * Returns a host to its pristine state: legacy iptables/ip6tables tables and the nft ruleset
 * flushed, conntrack table flushed, net.netfilter sysctls replayed, private /etc paths and
 * home directories restored from the pristine copy, iptables backend back to nft.
 * Call it before and after a test that changes a host.
 *
 * @param name - host name, e.g. `"ctlab1"`.
 * @throws when `lab.sh reset` fails.
 */
export async function resetHost(name: string): Promise<void> {
  await labCommandOrThrow(["reset", name]);
}

/**
 * Switches a host's `iptables`/`ip6tables` (+ `-save`/`-restore`) alternatives between
 * iptables-legacy and iptables-nft, inside that host only.
 *
 * @param name - host name, e.g. `"ctlab1"`.
 * @param backend - `"legacy"` or `"nft"`.
 * @returns the host's new `iptables -V` line, e.g. `"iptables v1.8.9 (legacy)"`.
 * @throws when `lab.sh backend` fails.
 */
export async function setBackend(name: string, backend: "legacy" | "nft"): Promise<string> {
  const result = await labCommandOrThrow(["backend", name, backend]);
  return result.stdout.trim();
}

/**
 * For tests: returns the running lab's inventory, or skips the current test with
 * {@link LAB_SKIP_MESSAGE} when not root or when there is no inventory.
 *
 * Call it inside a test or `beforeEach` (pass the test context there, or rely on vitest's
 * current test). Outside a test (e.g. `beforeAll`) there is nothing to skip, so it throws;
 * use `describe.skipIf(!labRunning())` for whole suites instead.
 *
 * @param ctx - the vitest test context (`test("...", (ctx) => requireLab(ctx))`).
 * @throws when the inventory exists but a host's sshd is gone (stale lab: `lab.sh down`, then `up`).
 */
export function requireLab(ctx?: Pick<TestContext, "skip">): LabInventory {
  const lab = isRoot() ? loadLab() : undefined;
  if (!lab) {
    if (ctx) ctx.skip(LAB_SKIP_MESSAGE);
    TestRunner.getCurrentTest()?.context.skip(LAB_SKIP_MESSAGE);
    throw new Error(LAB_SKIP_MESSAGE);
  }
  const dead = lab.hosts.filter((h) => !sshdAlive(h)).map((h) => h.name);
  if (dead.length > 0) {
    throw new Error(
      `lab inventory ${labStateDir()}/inventory.json is stale (sshd not running on ${dead.join(", ")}); ` +
        "run: npm run lab -- down && npm run lab -- up 10",
    );
  }
  return lab;
}

/**
 * Looks a host up by name in an inventory.
 *
 * @throws when the lab has no such host (e.g. it was started with fewer hosts).
 */
export function labHost(lab: LabInventory, name: string): LabHost {
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`lab has no host ${name} (hosts: ${lab.hosts.map((h) => h.name).join(", ")})`);
  return host;
}

/**
 * Runs a shell command inside a host (without SSH) and returns its stdout.
 *
 * @throws when the command exits non-zero, naming host, command and stderr.
 */
export async function hostSh(name: string, cmd: string): Promise<string> {
  const r = await hostExec(name, ["sh", "-c", cmd]);
  if (r.code !== 0) throw new Error(`${name}: ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/**
 * The `connection` input for a lab host: root with the lab key, or the `ctlab` user through sudo,
 * with the host key pinned. Skips the current test when the lab is not up.
 */
export function labConnection(name: string, opts: { sudo?: boolean } = {}): Record<string, unknown> {
  const inv = requireLab();
  const host = labHost(inv, name);
  const sudo = opts.sudo ?? false;
  return {
    host: host.address,
    user: sudo ? inv.user : "root",
    sudo,
    privateKey: readFileSync(inv.privateKeyPath, "utf8"),
    hostKey: host.hostKey,
  };
}

/** A lab host that carries raw-table rules on one backend: its iptables variant, or native nftables. */
export interface RuleBackend {
  host: string;
  variant?: "nft" | "legacy";
  /** Whether the tests reach it through sudo (a non-root login). */
  sudo: boolean;
  /** The `resolvedBackend` a rule created there with `backend: "auto"` reports. */
  resolved: string;
}

/**
 * The hosts NotrackRule's and ConntrackHelperRule's lab tests share, one per backend (the lab
 * runs test files one after another, and each resets its hosts before and after).
 */
export const RULE_BACKENDS: readonly RuleBackend[] = [
  { host: "ctlab3", variant: "nft", sudo: false, resolved: "iptables-nft" },
  { host: "ctlab4", variant: "legacy", sudo: true, resolved: "iptables-legacy" },
  { host: "ctlab5", sudo: false, resolved: "nftables" },
];

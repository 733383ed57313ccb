/**
 * Typed access to the real-kernel VM tier started by `test/vm/vm.sh up`: a Debian bullseye guest
 * (kernel 5.10, netfilter built as modules) under qemu, reachable over SSH on a loopback port.
 *
 * Tests use {@link requireVm} to get the inventory (or skip when the tier is not up) and
 * {@link vmExec} to assert guest state through the OpenSSH client, independently of the project's
 * own SSH transport.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestRunner } from "vitest";

/** Message used when a test is skipped because the VM tier is not running. */
export const VM_SKIP_MESSAGE = "VM tier not up (needs root and qemu; run: npm run vm -- up)";

/** What `vm.sh inventory` prints and `vm.sh up` writes to `$CONNTRACK_VM_RUN/inventory.json`. */
export interface VmInventory {
  /** Address of the forwarded SSH port on this machine: always `127.0.0.1`. */
  host: string;
  /** Loopback TCP port forwarded to the guest's sshd (`CONNTRACK_VM_PORT`, default 2522). */
  port: number;
  /** Login user in the guest: `root`. */
  user: string;
  /** Path of the unencrypted ed25519 private key authorized for {@link VmInventory.user}. */
  privateKeyPath: string;
  /** The guest's ed25519 host public key as `ssh-ed25519 AAAA...` (type and base64, no comment). */
  hostKey: string;
  /** OpenSSH SHA-256 fingerprint of {@link VmInventory.hostKey}, e.g. `SHA256:...`. */
  hostKeyFingerprint: string;
  /** `uname -r` of the guest kernel, e.g. `5.10.0-32-amd64`. */
  kernelRelease: string;
}

/** Result of a command run in the guest. `code` is the remote exit status, 255 for SSH errors. */
export interface VmExecResult {
  /** Exit status of the remote command (255 when ssh itself failed, -1 when killed by a signal). */
  code: number;
  /** Everything the command wrote to standard output. */
  stdout: string;
  /** Everything the command (and ssh) wrote to standard error. */
  stderr: string;
}

/** An executable and its arguments, ready for `execFile`/`spawn` (no shell involved locally). */
export interface VmCommand {
  /** The program to run: `ssh`. */
  file: string;
  /** Its arguments, ending with the remote command as one POSIX-quoted string. */
  args: string[];
}

/** The run directory of the VM tier (`CONNTRACK_VM_RUN`, default `/run/pulumi-conntrack-vm`). */
export function vmRunDir(): string {
  return process.env.CONNTRACK_VM_RUN || "/run/pulumi-conntrack-vm";
}

function isInventory(v: unknown): v is VmInventory {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.host === "string" &&
    typeof o.port === "number" &&
    Number.isInteger(o.port) &&
    typeof o.user === "string" &&
    typeof o.privateKeyPath === "string" &&
    typeof o.hostKey === "string" &&
    /^ssh-ed25519 [A-Za-z0-9+/=]+$/.test(o.hostKey) &&
    typeof o.hostKeyFingerprint === "string" &&
    typeof o.kernelRelease === "string"
  );
}

function qemuRunning(runDir: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(runDir, "qemu.pid"), "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the inventory of a running VM.
 *
 * @returns the inventory, or `undefined` when the VM tier is not up (no inventory in the run dir,
 *   a malformed one, or its qemu process is gone).
 */
export function loadVm(): VmInventory | undefined {
  const runDir = vmRunDir();
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(path.join(runDir, "inventory.json"), "utf8"));
  } catch {
    return undefined;
  }
  if (!isInventory(parsed) || !qemuRunning(runDir)) return undefined;
  return parsed;
}

/**
 * Returns the running VM's inventory, or skips the current test with {@link VM_SKIP_MESSAGE}.
 *
 * Call it inside a test (or `beforeEach`). Outside a test there is nothing to skip, so it throws;
 * for a whole `describe` block use `describe.skipIf(!loadVm())` instead.
 *
 * @param ctx the test context (`it("...", (ctx) => ...)`); defaults to the current test's.
 */
export function requireVm(ctx?: { skip: (note?: string) => never }): VmInventory {
  const vm = loadVm();
  if (vm) return vm;
  const skip = ctx?.skip ?? TestRunner.getCurrentTest()?.context.skip;
  if (!skip) throw new Error(`${VM_SKIP_MESSAGE} (requireVm() called outside a test)`);
  return skip(VM_SKIP_MESSAGE);
}

/**
 * The `connection` input for the running VM (root with the VM's key, its host key pinned), as a
 * program gives it. Skips the current test when no VM is up, like {@link requireVm}.
 */
export function vmConnection(): { host: string; port: number; user: string; privateKey: string; hostKey: string } {
  const vm = requireVm();
  return { host: vm.host, port: vm.port, user: vm.user, privateKey: fs.readFileSync(vm.privateKeyPath, "utf8"), hostKey: vm.hostKey };
}

/**
 * Quotes one word for a POSIX shell with single quotes, so the remote shell sees it verbatim.
 *
 * @example shellQuote("it's") === `'it'\''s'`
 */
export function shellQuote(word: string): string {
  if (word.includes("\0")) throw new Error("cannot pass a NUL byte in a command argument");
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const knownHostsFiles = new Map<string, string>();

/**
 * A known_hosts file that pins the VM's host key (from the inventory; no trust on first use).
 * Written once per process and key, atomically, under the OS temp dir.
 */
export function vmKnownHostsFile(vm: VmInventory): string {
  const line = `[${vm.host}]:${vm.port} ${vm.hostKey}\n`;
  const cached = knownHostsFiles.get(line);
  if (cached && fs.existsSync(cached)) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-conntrack-vm-"));
  const file = path.join(dir, "known_hosts");
  fs.writeFileSync(`${file}.tmp`, line, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  knownHostsFiles.set(line, file);
  return file;
}

/**
 * Builds the OpenSSH client command that runs `argv` in the VM as one remote command, each
 * argument single-quoted for the remote shell (so `["sh", "-c", "echo $HOME"]` runs exactly that).
 *
 * @param argv the remote program and its arguments; must not be empty.
 * @param vm the inventory to use; defaults to {@link loadVm}'s (throws when the VM is not up).
 */
export function vmCommand(argv: readonly string[], vm: VmInventory | undefined = loadVm()): VmCommand {
  if (!vm) throw new Error(VM_SKIP_MESSAGE);
  if (argv.length === 0) throw new Error("vmCommand: empty argv");
  const args = [
    "-F",
    "none",
    "-i",
    vm.privateKeyPath,
    "-p",
    String(vm.port),
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    // Generous: under TCG on a loaded machine the guest can take tens of seconds to answer.
    "-o",
    "ConnectTimeout=60",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${vmKnownHostsFile(vm)}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-l",
    vm.user,
    vm.host,
    "--",
    argv.map(shellQuote).join(" "),
  ];
  return { file: "ssh", args };
}

/**
 * Runs `argv` in the VM through the OpenSSH client and collects its output. Never throws for a
 * non-zero exit status: check {@link VmExecResult.code}.
 *
 * @param argv the remote program and its arguments, passed verbatim (no remote word splitting).
 * @param stdin text fed to the remote command's standard input (empty when omitted).
 * @param options `vm` to use another inventory, `timeoutMs` to kill ssh (default 120 s).
 */
export function vmExec(
  argv: readonly string[],
  stdin?: string,
  options: { vm?: VmInventory; timeoutMs?: number } = {},
): Promise<VmExecResult> {
  const { file, args } = vmCommand(argv, options.vm ?? loadVm());
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number" && err.signal == null) {
          reject(err); // could not run ssh at all (ENOENT, maxBuffer, ...)
          return;
        }
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.on("error", () => undefined); // remote side may exit before reading stdin
    child.stdin?.end(stdin ?? "");
  });
}

/** Timings of one `vm.sh reboot`, in seconds (wall clock of this machine). */
export interface VmRebootTimes {
  /** From `systemctl reboot` to qemu ending at the reset. */
  shutdownSeconds: number;
  /** From starting qemu again to sshd answering. */
  bootSeconds: number;
  totalSeconds: number;
}

/**
 * Reboots the VM for real (`vm.sh reboot`): the guest's systemd shuts down, then the run disk boots
 * again with the kernel and initrd now in the guest's /boot. Resolves when sshd answers again.
 * Close pooled SSH connections to the guest first: they die with it.
 */
export function vmReboot(timeoutMs = 1_200_000): Promise<VmRebootTimes> {
  const script = path.resolve(__dirname, "vm.sh");
  return new Promise((resolve, reject) => {
    execFile("bash", [script, "reboot"], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      if (err) {
        reject(new Error(`vm.sh reboot failed: ${err.message}\n${stderr}`));
        return;
      }
      const m = /rebooted in (\d+) s \(shutdown (\d+) s, boot (\d+) s\)/.exec(stderr);
      if (!m) {
        reject(new Error(`vm.sh reboot printed no timings:\n${stderr}`));
        return;
      }
      resolve({ totalSeconds: Number(m[1]), shutdownSeconds: Number(m[2]), bootSeconds: Number(m[3]) });
    });
  });
}

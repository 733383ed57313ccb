/**
 * Proves the lab itself: real OpenSSH logins, private netfilter and /etc state per host,
 * per-host iptables backend switching, stock sshd settings, and `reset`.
 * Hosts changed here (ctlab1, ctlab2) are reset before and after.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { type LabHost, type LabInventory, hostExec, isRoot, labHost, loadLab, requireLab, resetHost, setBackend } from "./inventory";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** execFile without a shell; resolves with the exit code instead of rejecting. */
function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.on("error", () => undefined); // the command may exit before reading stdin: its exit code decides
    child.stdin?.end();
  });
}

// known_hosts built from the inventory's hostKey fields, so logging in with
// StrictHostKeyChecking=yes also proves the inventory reports the real host keys.
let knownHostsDir: string | undefined;
function knownHostsFile(lab: LabInventory): string {
  if (!knownHostsDir) {
    knownHostsDir = mkdtempSync(path.join(tmpdir(), "ctlab-known-hosts-"));
    const lines = lab.hosts.map((h) => `${h.address},${h.address6} ${h.hostKey}`);
    writeFileSync(path.join(knownHostsDir, "known_hosts"), lines.join("\n") + "\n");
  }
  return path.join(knownHostsDir, "known_hosts");
}

/** Runs a remote command over the real OpenSSH client. */
function ssh(lab: LabInventory, host: LabHost, user: string, command: string, via6 = false): Promise<Run> {
  return run("ssh", [
    "-F",
    "/dev/null",
    "-i",
    lab.privateKeyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsFile(lab)}`,
    "-o",
    "HostKeyAlgorithms=ssh-ed25519",
    "-o",
    "ConnectTimeout=10",
    "-p",
    String(host.port),
    `${user}@${via6 ? host.address6 : host.address}`,
    command,
  ]);
}

/** Like {@link ssh} but fails the test on a non-zero exit and returns stdout. */
async function sshOk(lab: LabInventory, host: LabHost, user: string, command: string, via6 = false): Promise<string> {
  const r = await ssh(lab, host, user, command, via6);
  expect(r, `ssh ${user}@${host.name} ${command}`).toMatchObject({ code: 0 });
  return r.stdout;
}

async function execOk(name: string, argv: string[]): Promise<string> {
  const r = await hostExec(name, argv);
  expect(r, `exec ${name} ${argv.join(" ")}`).toMatchObject({ code: 0 });
  return r.stdout;
}

const TOUCHED = ["ctlab1", "ctlab2"];
const lab0 = isRoot() ? loadLab() : undefined;

describe("lab of hosts", () => {
  let lab: LabInventory;

  beforeAll(async () => {
    if (lab0) for (const name of TOUCHED) await resetHost(name);
  });
  afterAll(async () => {
    if (lab0) for (const name of TOUCHED) await resetHost(name);
    if (knownHostsDir) rmSync(knownHostsDir, { recursive: true, force: true });
  });
  beforeEach((ctx) => {
    lab = requireLab(ctx);
  });

  test("inventory has the documented shape and a matching fingerprint per host", () => {
    expect(lab.user).toBe("ctlab");
    expect(lab.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ lab$/);
    expect(existsSync(lab.privateKeyPath)).toBe(true);
    expect(lab.hosts.length).toBeGreaterThanOrEqual(2);
    lab.hosts.forEach((h, i) => {
      const n = 10 + i + 1;
      expect(h).toMatchObject({
        name: `ctlab${i + 1}`,
        netns: `ctlab${i + 1}`,
        address: `10.213.0.${n}`,
        address6: `fd42:c7::${n}`,
        port: 22,
      });
      expect(h.hostKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
      const blob = Buffer.from(h.hostKey.split(" ")[1], "base64");
      const fp = "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
      expect(h.hostKeyFingerprint).toBe(fp);
      expect(h.sshdPid).toBeGreaterThan(1);
    });
  });

  test("root logs in by key on every host and sees its own name and addresses", async () => {
    await Promise.all(
      lab.hosts.map(async (h) => {
        const out = await sshOk(lab, h, "root", "hostname; ip -o addr show dev eth0");
        const [name, ...addrs] = out.trim().split("\n");
        expect(name).toBe(h.name);
        expect(out).toContain(` ${h.address}/24 `);
        expect(out).toContain(` ${h.address6}/64 `);
        // Only this host's global addresses: no other lab host's, no machine's.
        const global = addrs.filter((l) => / scope global /.test(l));
        expect(global).toHaveLength(2);
      }),
    );
  });

  test("root logs in over IPv6 too", async () => {
    const out = await sshOk(lab, lab.hosts[0], "root", "hostname", true);
    expect(out.trim()).toBe(lab.hosts[0].name);
  });

  test("ctlab user logs in and has passwordless sudo", async () => {
    const h = lab.hosts[1];
    const out = await sshOk(lab, h, lab.user, "id -un; sudo -n true && echo sudo-ok; sudo -n id -u");
    expect(out.trim().split("\n")).toEqual([lab.user, "sudo-ok", "0"]);
  });

  test("login shells use stock dotfiles: no pyenv from the machine's /root", async () => {
    const h = lab.hosts[0];
    for (const user of ["root", lab.user]) {
      const plain = await sshOk(lab, h, user, "echo $PATH");
      const login = await sshOk(lab, h, user, "bash -lc 'echo $PATH; ls -A ~'");
      expect(plain).not.toContain(".pyenv");
      expect(login).not.toContain(".pyenv");
      expect(login).not.toContain(".cargo");
    }
  });

  test("netfilter state is private: an nft table in ctlab1 is not in ctlab2 or the root namespace", async () => {
    const [h1, h2] = [labHost(lab, "ctlab1"), labHost(lab, "ctlab2")];
    const table = `labprobe${process.pid}`;
    await sshOk(lab, h1, "root", `nft add table inet ${table}`);
    expect(await sshOk(lab, h1, "root", "nft list tables")).toContain(`table inet ${table}`);
    expect(await sshOk(lab, h2, "root", "nft list tables")).not.toContain(table);
    const rootNs = await run("nft", ["list", "tables"]);
    expect(rootNs.code).toBe(0);
    expect(rootNs.stdout).not.toContain(table);
    await resetHost("ctlab1");
    expect(await execOk("ctlab1", ["nft", "list", "ruleset"])).toBe("");
  });

  test("/etc/modprobe.d is private: a file written in ctlab1 is not in ctlab2 or on the machine", async () => {
    const [h1, h2] = [labHost(lab, "ctlab1"), labHost(lab, "ctlab2")];
    const file = `/etc/modprobe.d/lab-probe-${process.pid}.conf`;
    await sshOk(lab, h1, "root", `echo 'blacklist nf_conntrack_ftp' > ${file}`);
    expect(await sshOk(lab, h1, "root", `cat ${file}`)).toBe("blacklist nf_conntrack_ftp\n");
    expect((await ssh(lab, h2, "root", `test -e ${file}`)).code).toBe(1);
    expect(existsSync(file)).toBe(false);
    await resetHost("ctlab1");
    expect((await ssh(lab, h1, "root", `test -e ${file}`)).code).toBe(1);
  });

  test("/etc is private as a whole: temp file + rename onto /etc/nftables.conf works, nothing reaches the machine", async () => {
    const h = labHost(lab, "ctlab1");
    const machineNft = readFileSync("/etc/nftables.conf", "utf8");
    await sshOk(
      lab,
      h,
      "root",
      "t=$(mktemp /etc/.lab-tmp.XXXXXX) && printf 'flush ruleset\\n' > $t && mv -f $t /etc/nftables.conf && mkdir -p /etc/sysconfig && echo x > /etc/sysconfig/lab-probe",
    );
    expect(await sshOk(lab, h, "root", "cat /etc/nftables.conf")).toBe("flush ruleset\n");
    expect(readFileSync("/etc/nftables.conf", "utf8")).toBe(machineNft);
    expect(readdirSync("/etc").filter((f) => f.startsWith(".lab-tmp"))).toEqual([]);
    expect(existsSync("/etc/sysconfig/lab-probe")).toBe(false);
    await resetHost("ctlab1");
    expect(await execOk("ctlab1", ["ls", "-A", "/etc/sysconfig"])).toBe("");
  });

  test("backend switch changes iptables -V on that host only, and back", async () => {
    const [h1, h2] = [labHost(lab, "ctlab1"), labHost(lab, "ctlab2")];
    const machineBefore = (await run("iptables", ["-V"])).stdout;

    expect(await setBackend("ctlab1", "legacy")).toMatch(/\(legacy\)$/);
    expect(await sshOk(lab, h1, "root", "iptables -V; ip6tables -V; iptables-save -V; ip6tables-restore -V")).toMatch(
      /^(.*\(legacy\)\n){4}$/,
    );
    expect(await sshOk(lab, h2, "root", "iptables -V")).toContain("(nf_tables)");
    expect((await run("iptables", ["-V"])).stdout).toBe(machineBefore);

    expect(await setBackend("ctlab1", "nft")).toMatch(/\(nf_tables\)$/);
    expect(await sshOk(lab, h1, "root", "iptables -V; ip6tables-save -V")).toMatch(/^(.*\(nf_tables\)\n){2}$/);
  });

  test("sshd runs with stock settings", async () => {
    const h = labHost(lab, "ctlab1");
    const cfgPath = path.join(lab.stateDir, "hosts", h.name, "sshd_config");
    const t = await execOk(h.name, ["/usr/sbin/sshd", "-T", "-f", cfgPath]);
    const settings = t.split("\n");
    expect(settings).toContain("maxstartups 10:30:100");
    expect(settings).toContain("maxsessions 10");
    expect(settings).toContain("permitrootlogin without-password");
    expect(settings).toContain("subsystem sftp /usr/lib/openssh/sftp-server");
    expect(settings).toContain(`listenaddress ${h.address}:22`);
    expect(settings).toContain(`listenaddress [${h.address6}]:22`);

    // The config file is Debian's stock file plus only HostKey/PidFile/ListenAddress lines.
    const stockPath = existsSync("/usr/share/openssh/sshd_config") ? "/usr/share/openssh/sshd_config" : "/etc/ssh/sshd_config";
    const added = readFileSync(cfgPath, "utf8")
      .split("\n")
      .filter((l) => !readFileSync(stockPath, "utf8").split("\n").includes(l))
      .filter((l) => l.trim() !== "" && !l.startsWith("#"));
    for (const line of added) expect(line).toMatch(/^(HostKey|PidFile|ListenAddress) /);
  });

  test("reset restores a host to pristine", async () => {
    const h = labHost(lab, "ctlab2");
    const pristine = path.join(lab.stateDir, "hosts", h.name, "pristine");
    const pristineNft = readFileSync(path.join(pristine, "etc", "nftables.conf"), "utf8");
    await setBackend(h.name, "legacy");
    await sshOk(
      lab,
      h,
      "root",
      [
        "iptables -t raw -A PREROUTING -p tcp --dport 21 -j CT --helper ftp",
        "ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT",
        "iptables-nft -A INPUT -p udp -j ACCEPT",
        "nft add table ip labreset",
        "echo 'install nf_conntrack_ftp /bin/false' > /etc/modprobe.d/lab-reset.conf",
        "echo 'net.netfilter.nf_conntrack_acct = 1' > /etc/sysctl.d/90-lab-reset.conf",
        "sysctl -qw net.netfilter.nf_conntrack_acct=1",
        "iptables-save > /etc/iptables/rules.v4",
        "echo '# changed' >> /etc/nftables.conf",
        "touch /etc/sysconfig/nftables.conf ~/lab-reset",
      ].join(" && "),
    );

    await resetHost(h.name);

    expect(await sshOk(lab, h, "root", "iptables -V")).toContain("(nf_tables)");
    expect(await execOk(h.name, ["nft", "list", "ruleset"])).toBe("");
    const legacy = await execOk(h.name, ["sh", "-c", "iptables-legacy-save; ip6tables-legacy-save"]);
    expect(legacy).not.toMatch(/^-A /m);
    for (const dir of ["/etc/modprobe.d", "/etc/sysctl.d", "/etc/iptables", "/etc/sysconfig"]) {
      const listing = (await execOk(h.name, ["ls", "-A", dir])).split("\n").filter(Boolean);
      expect(listing, dir).toEqual(readdirSync(path.join(pristine, dir)).sort());
    }
    expect(await execOk(h.name, ["cat", "/etc/nftables.conf"])).toBe(pristineNft);
    expect(await execOk(h.name, ["sysctl", "-n", "net.netfilter.nf_conntrack_acct"])).toBe("0\n");
    expect(await sshOk(lab, h, "root", "ls -A ~")).not.toContain("lab-reset");
  });
});

/**
 * Conntrack status on lab hosts (6.x kernel, nf_conntrack built in, each host a network namespace):
 * rows read with conntrack -S, the packet counters of this package's tagged NOTRACK rules
 * (iptables-nft with its counters, native nftables with and without a `counter`), the
 * getConntrackStatus function, and the `pulumi-conntrack status` command: exit codes with
 * --warn-at, an unreachable host, --json, and host keys checked against known_hosts (hashed
 * entries, unknown key refused, --accept-new recording it, a changed key refused). Uses ctlab15
 * and ctlab16, reset before and after.
 */
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RULE_TAG_PREFIX } from "../../provider/common/markers";
import { getConntrackStatus } from "../../provider/status/function";
import { parseConnection, readHostStatus } from "../../provider/status/collect";
import { renderNftRule } from "../../provider/resources/notrack-rule/syntax/nft-rule";
import type { HostStatus } from "../../provider/status/parse";
import { closeAll } from "../../provider/transport/pool";
import { hostSh, isRoot, labConnection, labHost, labRunning, loadLab, requireLab, resetHost } from "./inventory";

const MINE = ["ctlab15", "ctlab16"];
const CLI = path.join(__dirname, "../../dist/provider/status/cli.js");
const UNREACHABLE = "10.213.0.250";

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) for (const h of MINE) await resetHost(h);
});

describe.skipIf(!isRoot() || !labRunning())("conntrack status on lab hosts", () => {
  let a15 = "";
  let a16 = "";
  let key = "";
  let knownHosts = "";
  const tmp = mkdtempSync(path.join(tmpdir(), "ctk-status-"));

  beforeAll(async () => {
    const lab = requireLab();
    for (const h of MINE) await resetHost(h);
    a15 = labHost(lab, "ctlab15").address;
    a16 = labHost(lab, "ctlab16").address;
    key = lab.privateKeyPath;
    knownHosts = lab.knownHostsPath;
    // Tagged NOTRACK rules as this package writes them: iptables-nft (always counted) and native
    // nftables, one rule with a counter statement and one without; plus an untagged rule that
    // must not be reported.
    await hostSh(
      "ctlab15",
      [
        `iptables -t raw -A PREROUTING -p udp --dport 53 -m comment --comment "${RULE_TAG_PREFIX}status-dns" -j CT --notrack`,
        "iptables -t raw -A PREROUTING -p udp --dport 123 -j CT --notrack",
        "nft add table inet pulumi_conntrack",
        "nft add chain inet pulumi_conntrack prerouting '{ type filter hook prerouting priority raw; }'",
        `nft add rule inet pulumi_conntrack prerouting udp dport 54 counter notrack comment '"${RULE_TAG_PREFIX}status-nft"'`,
        `nft add rule inet pulumi_conntrack prerouting udp dport 55 notrack comment '"${RULE_TAG_PREFIX}status-nft-nocounter"'`,
        // Exactly as NotrackRule writes it (meta nfproto, counter).
        `nft add rule inet pulumi_conntrack prerouting ${renderNftRule(
          { family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 56 },
          `${RULE_TAG_PREFIX}status-nft-v4`,
        ).replace(/"(.*)"$/, `'"$1"'`)}`,
      ].join(" && "),
    );
    // A rule that needs conntrack, so that the namespace tracks flows at all (conntrack hooks are
    // registered per namespace on demand), and a udp timeout long enough to outlive the test.
    await hostSh(
      "ctlab15",
      "iptables -A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT && echo 600 > /proc/sys/net/netfilter/nf_conntrack_udp_timeout",
    );
    // Traffic from ctlab16: 5 packets to each NOTRACK port, and 30 tracked flows (distinct source
    // ports to a port without a rule), so that ctlab15's table holds entries.
    await hostSh(
      "ctlab16",
      `for i in 1 2 3 4 5; do for p in 53 54 55 56; do bash -c "echo x > /dev/udp/${a15}/$p"; done; done; ` +
        `for i in $(seq 1 30); do bash -c "echo x > /dev/udp/${a15}/9999"; done`,
    );
  });

  it("reads one host in one command: count/max/buckets, conntrack -S sums, NOTRACK counters of tagged rules only", async () => {
    const s = await readHostStatus(parseConnection(labConnection("ctlab15") as never));
    expect(s.source).toBe("conntrack -S");
    expect(s.max).toBe(Number((await hostSh("ctlab15", "cat /proc/sys/net/netfilter/nf_conntrack_max")).trim()));
    expect(s.count).toBeGreaterThanOrEqual(30);
    expect(s.buckets).toBe(Number((await hostSh("ctlab15", "cat /sys/module/nf_conntrack/parameters/hashsize")).trim()));
    expect(s.cpus).toBeGreaterThan(0);
    for (const k of ["found", "invalid", "insert_failed", "drop", "early_drop", "search_restart", "clash_resolve", "chaintoolong"]) {
      expect(typeof s.stats[k as keyof HostStatus["stats"]]).toBe("number");
    }
    const byTag = Object.fromEntries(s.notrack.map((c) => [c.tag, c]));
    expect(Object.keys(byTag).sort()).toEqual([
      `${RULE_TAG_PREFIX}status-dns`,
      `${RULE_TAG_PREFIX}status-nft`,
      `${RULE_TAG_PREFIX}status-nft-nocounter`,
      `${RULE_TAG_PREFIX}status-nft-v4`,
    ]);
    expect(byTag[`${RULE_TAG_PREFIX}status-dns`]).toMatchObject({
      backend: "iptables-nft",
      family: "ipv4",
      chain: "PREROUTING",
      packets: 5,
    });
    expect(byTag[`${RULE_TAG_PREFIX}status-nft`]).toMatchObject({ backend: "nftables", family: "inet", packets: 5 });
    expect(byTag[`${RULE_TAG_PREFIX}status-nft-nocounter`].packets).toBeNull();
    expect(byTag[`${RULE_TAG_PREFIX}status-nft-v4`]).toMatchObject({
      backend: "nftables",
      family: "ipv4",
      chain: "prerouting",
      packets: 5,
      bytes: expect.any(Number),
    });
    expect(byTag[`${RULE_TAG_PREFIX}status-nft-v4`].bytes).toBeGreaterThan(0);
    expect(s.missing).toContain(
      "nftables NOTRACK rules of this package carry no counter statement: no packet counts for them (1 rule, as releases before counters wrote them; the next update of each adds one)",
    );
    expect(s.missing.filter((m) => /nftables table/.test(m))).toEqual([]);
  });

  it("getConntrackStatus returns an Output of the same status", async () => {
    const out = getConntrackStatus({ connection: labConnection("ctlab16") as never });
    const s = await new Promise<HostStatus>((resolve) => out.apply((v) => resolve(v)));
    expect(s.source).toBe("conntrack -S");
    expect(s.max).toBeGreaterThan(0);
    expect(s.notrack).toEqual([]);
  });

  it("the command prints one row per host and exits 0 below --warn-at, 1 above it", async () => {
    const base = ["status", "--hosts", `${a15},${a16}`, "--key", key, "--known-hosts", knownHosts];
    const ok = await cli(base);
    expect(ok.code).toBe(0);
    const lines = ok.stdout.split("\n");
    expect(lines[0]).toMatch(/^HOST\s+COUNT\/MAX\s+USAGE/);
    expect(lines[1]).toMatch(
      new RegExp(`^${a15.replace(/\./g, "\\.")}\\s+\\d+/\\d+\\s+\\[[#.]{20}\\] \\d+\\.\\d%.*4 rules 15 pkts, 1 uncounted\\s+conntrack -S$`),
    );
    expect(lines[2]).toMatch(new RegExp(`^${a16.replace(/\./g, "\\.")}\\s+\\d+/\\d+`));
    // ctlab15 holds entries, so any usage is above 0%; ctlab16 may hold none.
    const above = await cli([...base, "--warn-at", "0"]);
    expect(above.code).toBe(1);
    expect(above.stdout).toMatch(new RegExp(`${a15.replace(/\./g, "\\.")}: table \\d+\\.\\d% full, above --warn-at 0%`));
  });

  it("reports an unreachable host (exit bit 2) and still prints the others; --json for machines", async () => {
    const r = await cli([
      "status",
      "--hosts",
      `${a15},${UNREACHABLE}`,
      "--key",
      key,
      "--known-hosts",
      knownHosts,
      "--json",
      "--connect-timeout",
      "2",
    ]);
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout);
    expect(j.exitCode).toBe(2);
    expect(j.hosts[0]).toMatchObject({ host: a15, ok: true, source: "conntrack -S", aboveWarnAt: false });
    expect(j.hosts[1].host).toBe(UNREACHABLE);
    expect(j.hosts[1].ok).toBe(false);
    expect(j.hosts[1].error).toMatch(/10\.213\.0\.250/);
    const both = await cli([
      "status",
      "--hosts",
      `${a15},${UNREACHABLE}`,
      "--key",
      key,
      "--known-hosts",
      knownHosts,
      "--warn-at",
      "0",
      "--connect-timeout",
      "2",
    ]);
    expect(both.code).toBe(3);
    expect(both.stdout).toMatch(new RegExp(`${UNREACHABLE.replace(/\./g, "\\.")}\\s+unreachable`));
  });

  it("host keys: hashed known_hosts accepted; unknown refused; --accept-new records it; a changed key refused", async () => {
    const hashed = path.join(tmp, "hashed");
    copyFileSync(knownHosts, hashed);
    await new Promise<void>((res, rej) => execFile("ssh-keygen", ["-H", "-f", hashed], (e) => (e ? rej(e) : res())));
    expect(readFileSync(hashed, "utf8")).toMatch(/^\|1\|/);
    expect((await cli(["status", "--hosts", a15, "--key", key, "--known-hosts", hashed])).code).toBe(0);

    const empty = path.join(tmp, "empty");
    writeFileSync(empty, "");
    const refused = await cli(["status", "--hosts", a15, "--key", key, "--known-hosts", empty]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/is not in .*empty \(it presents SHA256:[A-Za-z0-9+/]{43}\).*--accept-new/);

    const tofu = await cli(["status", "--hosts", a15, "--key", key, "--known-hosts", empty, "--accept-new"]);
    expect(tofu.code).toBe(0);
    expect(tofu.stderr).toMatch(/accepted new host key SHA256:/);
    const recorded = readFileSync(empty, "utf8");
    expect(recorded).toMatch(new RegExp(`^${a15.replace(/\./g, "\\.")} ssh-ed25519 AAAA\\S+\\n$`));
    expect((await cli(["status", "--hosts", a15, "--key", key, "--known-hosts", empty])).code).toBe(0);

    // ctlab16's key recorded under ctlab15's address: the key presented differs.
    const wrong = path.join(tmp, "wrong");
    writeFileSync(wrong, `${a15} ${labHost(requireLab(), "ctlab16").hostKey}\n`);
    const changed = await cli(["status", "--hosts", a15, "--key", key, "--known-hosts", wrong]);
    expect(changed.code).toBe(2);
    expect(changed.stdout).toMatch(/HOST KEY OF 10\.213\.0\.\d+ HAS CHANGED/);
  });
});

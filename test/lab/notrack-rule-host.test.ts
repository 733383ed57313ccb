/**
 * NotrackRule on ctlab6: real traffic (UDP to port 53 creates no conntrack entry once the rules are
 * in, other traffic still does), the lockout guard, a host that keeps nf_conntrack out, RHEL's
 * iptables-services file, `persist: false`, `auto` on a clean host, and a host that switches its
 * iptables variant under an existing rule. Driven through the dynamic-provider handlers; host state
 * asserted with `lab.sh exec`. The host is reset before each test and after the file.
 */
import { createSocket } from "node:dgram";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { ConnectionSchema } from "../../provider/connection/schema";
import { ConflictError } from "../../provider/errors";
import { observe } from "../../provider/resources/notrack-rule/observe";
import { applyPlan } from "../../provider/resources/notrack-rule/apply";
import { mergePlans } from "../../provider/resources/notrack-rule/batch/merge";
import { plan } from "../../provider/resources/notrack-rule/plan";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { hostExec, isRoot, labHost, labRunning, loadLab, requireLab, resetHost, setBackend, labConnection, hostSh } from "./inventory";

const h = () => handler("NotrackRule");
const HOST = "ctlab6";
type Props = Record<string, unknown>;

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) await resetHost(HOST);
});

beforeEach(async (ctx) => {
  requireLab(ctx);
  await resetHost(HOST);
});

const connection = (sudo = false): Props => labConnection(HOST, { sudo });

async function checked(news: Props): Promise<Props> {
  const c = await h().check({}, news);
  expect(c.failures).toBeUndefined();
  return c.inputs as Props;
}

const sh = (cmd: string): Promise<string> => hostSh(HOST, cmd);

const rawRules = async (cmd = "iptables-nft-save") => (await sh(`${cmd} -t raw`)).split("\n").filter((l) => l.startsWith("-A "));

/** Sends a few UDP datagrams from this machine (the bridge address) to the lab host. */
async function sendUdp(address: string, ports: number[]): Promise<void> {
  const v6 = address.includes(":");
  const sock = createSocket(v6 ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => sock.bind(0, v6 ? "fd42:c7::1" : "10.213.0.1", () => resolve()).once("error", reject));
  for (const port of ports) {
    for (let i = 0; i < 3; i++)
      await new Promise<void>((resolve, reject) => sock.send(Buffer.from("ctk"), port, address, (e) => (e ? reject(e) : resolve())));
  }
  sock.close();
}

/** conntrack entries of UDP to `address` by destination port, polled until `port` shows up. */
async function udpEntries(address: string, family: "ipv4" | "ipv6", waitFor: number): Promise<number[]> {
  for (let i = 0; i < 50; i++) {
    const r = await hostExec(HOST, ["conntrack", "-L", "-f", family, "-p", "udp", "-d", address]);
    const ports = [...r.stdout.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1]));
    if (ports.includes(waitFor)) return ports;
    await new Promise((res) => setTimeout(res, 100));
  }
  return [];
}

describe.skipIf(!isRoot() || !labRunning())("NotrackRule on ctlab6", () => {
  it("UDP to port 53 creates no conntrack entry once the rules are in; other traffic still does", async () => {
    const inv = requireLab();
    const host = labHost(inv, HOST);
    const made: Array<{ id: string; outs: Props }> = [];
    for (const family of ["ipv4", "ipv6"] as const) {
      for (const r of [
        { chain: "PREROUTING", destinationPort: 53 },
        { chain: "OUTPUT", sourcePort: 53 },
      ]) {
        const news = await checked({
          connection: connection(),
          ruleName: `traffic-${family}-${r.chain}`,
          family,
          protocol: "udp",
          backend: "iptables",
          persist: false,
          ...r,
        });
        const { id, outs } = await h().create(news);
        made.push({ id, outs: outs as Props });
        expect(outs).toMatchObject({ resolvedBackend: "iptables-nft", persistence: { mechanism: "disabled" } });
      }
    }
    // Tracking in a namespace starts once a rule there uses it.
    await sh(
      "iptables-nft -A INPUT -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT && ip6tables-nft -A INPUT -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT",
    );
    await sh("conntrack -F 2>/dev/null; conntrack -F -f ipv6 2>/dev/null; true");
    for (const [address, family] of [
      [host.address, "ipv4"],
      [host.address6, "ipv6"],
    ] as const) {
      await sendUdp(address, [53, 54]);
      const ports = await udpEntries(address, family, 54);
      expect(ports, `${family}: other UDP traffic is tracked`).toContain(54);
      expect(ports, `${family}: UDP to port 53 is not`).not.toContain(53);
    }
    // The packets went through our rules.
    const counted = await sh("iptables-nft -t raw -L PREROUTING -v -n -x | grep 'dpt:53'");
    expect(Number(counted.trim().split(/\s+/)[0])).toBeGreaterThan(0);
    for (const m of made) await h().delete(m.id, m.outs);
    expect(await rawRules()).toEqual([]);
  });

  it("keeps every rule when two programs (two connections, no shared queue) change one host at once", async () => {
    // Half the rules through root, half through the sudo user: separate SSH connections and queues,
    // so only the host lock and the apply script's guards keep them from losing each other's work.
    const programs = Array.from({ length: 16 }, (_, i) => ({
      connection: connection(i % 2 === 1),
      ruleName: `par-${i}`,
      chain: i % 4 < 2 ? "PREROUTING" : "OUTPUT",
      // TCP only in PREROUTING: an OUTPUT TCP rule on an ephemeral destination port could match the
      // SSH session's replies, and the lockout guard would refuse it.
      protocol: i % 4 < 2 && i % 3 === 0 ? "tcp" : "udp",
      destinationPort: 6000 + i,
      backend: "iptables",
    }));
    const made = await Promise.all(programs.map(async (p) => ({ p, ...(await h().create(await checked(p))) })));
    const tags = made.map((m) => m.id);
    const live = await rawRules();
    const saved = await sh("cat /etc/iptables/rules.v4");
    for (const t of tags) {
      expect(
        live.filter((l) => l.includes(`"${t}"`)),
        t,
      ).toHaveLength(1);
      expect(
        saved.split("\n").filter((l) => l.includes(`"${t}"`)),
        t,
      ).toHaveLength(1);
    }
    // Update all in parallel, then delete all in parallel.
    const updated = await Promise.all(
      made.map(async (m) => {
        const news = await checked({ ...m.p, destinationPort: `${7000 + Number(m.p.ruleName.slice(4))}:7100` });
        return { id: m.id, outs: (await h().update(m.id, m.outs as Props, news)).outs as Props };
      }),
    );
    const live2 = await rawRules();
    expect(live2).toHaveLength(16);
    for (const m of made)
      expect(live2.find((l) => l.includes(`"${m.id}"`))).toContain(`--dport ${7000 + Number(m.p.ruleName.slice(4))}:7100`);
    expect((await sh("cat /etc/iptables/rules.v4")).split("\n").filter((l) => l.includes("7100"))).toHaveLength(16);
    await Promise.all(updated.map((u) => h().delete(u.id, u.outs)));
    expect(await rawRules()).toEqual([]);
    expect((await hostExec(HOST, ["test", "-e", "/etc/iptables/rules.v4"])).code).not.toBe(0);
  });

  it("refuses a rule that could match the SSH session, in check and in create, unless allowed", async () => {
    const program = {
      connection: connection(),
      ruleName: "ssh",
      chain: "PREROUTING",
      protocol: "tcp",
      destinationPort: 22,
      backend: "iptables",
    };
    const c = await h().check({}, program);
    expect(c.failures).toEqual([
      { property: "destinationPort", reason: expect.stringMatching(/SSH to 10\.213\.0\.16 port 22.*allowManagementTraffic/) },
    ]);
    const normalized = {
      ...program,
      connection: ConnectionSchema.parse(program.connection),
      family: "ipv4",
      persist: true,
      allowManagementTraffic: false,
    };
    const err = await h()
      .create(normalized)
      .catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toMatch(/destinationPort: this rule could match/);
    expect(await rawRules()).toEqual([]);
    expect((await hostExec(HOST, ["test", "-e", "/etc/iptables/rules.v4"])).code).not.toBe(0);

    // The host's view of the session is found, also through sudo (which drops $SSH_CONNECTION).
    for (const sudo of [false, true]) {
      const o = await observe(ConnectionSchema.parse(connection(sudo)), "ipv4");
      expect(o.session).toMatchObject({ serverAddress: "10.213.0.16", serverPort: 22, clientAddress: "10.213.0.1" });
    }

    // With the override the rule goes in, and the session keeps working (this host's filter table
    // accepts untracked packets).
    const allowed = await checked({ ...program, allowManagementTraffic: true });
    const { id, outs } = await h().create(allowed);
    expect(await rawRules()).toEqual([`-A PREROUTING -p tcp -m tcp --dport 22 -m comment --comment "${id}" -j CT --notrack`]);
    expect((await h().read(id, outs)).inputs).toEqual(allowed);
    await h().delete(id, outs);
    expect(await rawRules()).toEqual([]);
  });

  it("says clearly that nf_conntrack is kept out by modprobe configuration, and changes nothing", async () => {
    await sh("printf 'blacklist nf_conntrack\\ninstall nf_conntrack /bin/false\\n' > /etc/modprobe.d/no-conntrack.conf");
    const news = await checked({
      connection: connection(),
      ruleName: "blocked",
      chain: "PREROUTING",
      protocol: "udp",
      destinationPort: 53,
      backend: "iptables",
    });
    const err = await h()
      .create(news)
      .catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain(
      "nf_conntrack is disabled on this host by `install nf_conntrack /bin/false` in /etc/modprobe.d/no-conntrack.conf:2",
    );
    expect(err.message).toMatch(/ModuleBlacklist/);
    expect(await rawRules()).toEqual([]);
    // `blacklist` alone does not keep a module out (it only ignores aliases): no refusal.
    await sh("printf 'blacklist nf_conntrack\\n' > /etc/modprobe.d/no-conntrack.conf");
    const { id, outs } = await h().create(news);
    expect(await rawRules()).toHaveLength(1);
    await h().delete(id, outs);
  });

  it("sees, under the host lock, a line keeping nf_conntrack out that was written after the read: the apply changes nothing and the rule is refused", async () => {
    // Another stack's ModuleBlacklist of the core lands between this batch's read and its apply: the
    // plan, made from the read, saw no such line; the apply checks the lines again under the lock.
    const conn = ConnectionSchema.parse(connection());
    const spec = { family: "ipv4" as const, chain: "PREROUTING" as const, protocol: "udp" as const, destinationPort: 53 };
    const stale = async () => {
      const o = await observe(conn, "ipv4");
      return mergePlans(o, [plan(o, { tag: "pulumi-conntrack:skew:0000000001", spec, persist: true, backend: "iptables-nft" })]);
    };
    const before = await sh("cat /etc/iptables/rules.v4 2>/dev/null; echo; iptables-nft-save -t raw | grep -c -- '-A ' || true");
    const p = await stale();
    expect(p.modprobeGuard).toBeDefined();
    await sh("printf 'install nf_conntrack /bin/false\\n' > /etc/modprobe.d/other-stack.conf");
    expect(await applyPlan(conn, "ipv4", p)).toBe("conflict");
    expect(await rawRules()).toEqual([]);
    expect(await sh("cat /etc/iptables/rules.v4 2>/dev/null; echo; iptables-nft-save -t raw | grep -c -- '-A ' || true")).toBe(before);
    // The next plan reads the line and refuses, naming it.
    const err = await h()
      .create(await checked({ connection: connection(), ruleName: "skew", ...spec, backend: "iptables" }))
      .catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain("/etc/modprobe.d/other-stack.conf:1");
    expect(await rawRules()).toEqual([]);
    // A line that keeps only a helper's module out is not what a NOTRACK rule decided by: the stale
    // plan still goes in.
    await sh("rm -f /etc/modprobe.d/other-stack.conf");
    const q = await stale();
    await sh("printf 'install nf_conntrack_ftp /bin/false\\n' > /etc/modprobe.d/other-stack.conf");
    expect(await applyPlan(conn, "ipv4", q)).toBe("done");
    expect(await rawRules()).toHaveLength(1);
  });

  it("persists into RHEL's /etc/sysconfig/iptables, adding only our rule and restoring the file on delete", async () => {
    const before =
      "# Generated by iptables-save v1.4.21\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n";
    await hostExec(HOST, ["sh", "-c", "cat > /etc/sysconfig/iptables && chmod 600 /etc/sysconfig/iptables"], before);
    const news = await checked({
      connection: connection(),
      ruleName: "rhel",
      chain: "OUTPUT",
      protocol: "udp",
      sourcePort: 53,
      backend: "iptables",
    });
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ persistence: { mechanism: "iptables-services", file: "/etc/sysconfig/iptables" } });
    const rule = `-A OUTPUT -p udp -m udp --sport 53 -m comment --comment "${id}" -j CT --notrack`;
    expect(await sh("cat /etc/sysconfig/iptables")).toBe(
      `${before}*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rule}\nCOMMIT\n`,
    );
    expect((await sh("stat -c %a /etc/sysconfig/iptables")).trim()).toBe("600");
    expect((await hostExec(HOST, ["test", "-e", "/etc/iptables/rules.v4"])).code).not.toBe(0);
    await h().delete(id, outs);
    expect(await sh("cat /etc/sysconfig/iptables")).toBe(before);
  });

  it("persist: false writes no file; turning it on later saves the rule, turning it off removes it", async () => {
    const program = {
      connection: connection(),
      ruleName: "np",
      chain: "PREROUTING",
      protocol: "udp",
      sourcePort: 53,
      backend: "iptables",
      persist: false,
    };
    const news = await checked(program);
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ persistence: { mechanism: "disabled" } });
    expect((await hostExec(HOST, ["test", "-e", "/etc/iptables/rules.v4"])).code).not.toBe(0);
    const on = await checked({ ...program, persist: true });
    const up = await h().update(id, outs, on);
    expect(up.outs).toMatchObject({
      persistence: {
        mechanism: "netfilter-persistent",
        file: "/etc/iptables/rules.v4",
        note: expect.stringMatching(/netfilter-persistent is not installed/),
      },
    });
    expect(await sh("cat /etc/iptables/rules.v4")).toContain(id);
    const off = await h().update(id, up.outs as Props, news);
    expect((await hostExec(HOST, ["test", "-e", "/etc/iptables/rules.v4"])).code).not.toBe(0);
    expect(await rawRules()).toHaveLength(1);
    await h().delete(id, off.outs as Props);
    expect(await rawRules()).toEqual([]);
  });

  it("auto picks native nftables on a host that runs no iptables ruleset, and cleans its table up", async () => {
    const news = await checked({
      connection: connection(true),
      ruleName: "auto",
      chain: "PREROUTING",
      protocol: "udp",
      destinationPort: 53,
      family: "ipv6",
    });
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ resolvedBackend: "nftables", ruleText: `meta nfproto ipv6 udp dport 53 counter notrack comment "${id}"` });
    expect(await sh("nft list table inet pulumi_conntrack")).toContain(`udp dport 53 counter packets 0 bytes 0 notrack comment "${id}"`);
    expect(await rawRules()).toEqual([]);
    await h().delete(id, outs);
    expect((await hostExec(HOST, ["nft", "list", "table", "inet", "pulumi_conntrack"])).code).not.toBe(0);
    expect(await sh("cat /etc/nftables.conf")).not.toContain("pulumi");
  });

  it("keeps using the iptables variant a rule was created in after the host switches alternatives", async () => {
    await setBackend(HOST, "legacy");
    const news = await checked({
      connection: connection(),
      ruleName: "switch",
      chain: "OUTPUT",
      protocol: "tcp",
      destinationPort: 53,
      persist: false,
    });
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ resolvedBackend: "iptables-legacy" });
    await setBackend(HOST, "nft");
    expect((await h().read(id, outs)).inputs).toEqual(news);
    await h().delete(id, outs);
    expect(await rawRules("iptables-legacy-save")).toEqual([]);
    expect(await rawRules("iptables-nft-save")).toEqual([]);
  });
});

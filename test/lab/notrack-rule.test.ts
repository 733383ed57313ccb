/**
 * NotrackRule on real hosts, one per backend: ctlab3 (iptables-nft), ctlab4 (iptables-legacy, reached
 * as the sudo user `ctlab`) and ctlab5 (native nftables). On each: the seed's eight DNS rules for
 * IPv4 and IPv6 (sixteen rules, created in parallel) created, read back equal, updated in place,
 * edited and deleted by hand then repaired, deleted; unmanaged rules placed before and after ours
 * untouched byte for byte; saved rulesets holding exactly our rules plus what was there before.
 * Driven through the dynamic-provider handlers; host state asserted with `lab.sh exec`, not with the
 * code under test. Hosts are reset before and after.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notrackRuleKind } from "../../provider/resources/notrack-rule/kind";
import { handler } from "../../provider/runtime";
import { registerKind } from "../../provider/runtime/registry";
import { closeAll } from "../../provider/transport/pool";
import { hostExec, isRoot, labHost, labRunning, loadLab, requireLab, resetHost, setBackend } from "./inventory";

// vitest cannot follow kinds.ts's require() into TypeScript sources: register the kind by import.
registerKind("NotrackRule", () => notrackRuleKind as never);
const TYPE = "NotrackRule";
const h = () => handler(TYPE);

type Props = Record<string, unknown>;
type Family = "ipv4" | "ipv6";

/** The seed: a busy DNS server exempts port 53, TCP and UDP, both directions, PREROUTING and OUTPUT. */
const SEED = [
  { name: "in-tcp-dport", chain: "PREROUTING", protocol: "tcp", destinationPort: 53 },
  { name: "in-udp-dport", chain: "PREROUTING", protocol: "udp", destinationPort: 53 },
  { name: "in-tcp-sport", chain: "PREROUTING", protocol: "tcp", sourcePort: 53 },
  { name: "in-udp-sport", chain: "PREROUTING", protocol: "udp", sourcePort: 53 },
  { name: "out-tcp-sport", chain: "OUTPUT", protocol: "tcp", sourcePort: 53 },
  { name: "out-udp-sport", chain: "OUTPUT", protocol: "udp", sourcePort: 53 },
  { name: "out-tcp-dport", chain: "OUTPUT", protocol: "tcp", destinationPort: 53 },
  { name: "out-udp-dport", chain: "OUTPUT", protocol: "udp", destinationPort: 53 },
] as const;

/** The iptables-save line each seed rule must become (written here, not by the code under test). */
function expectedIptablesLine(r: (typeof SEED)[number], tag: string): string {
  const port = "destinationPort" in r ? `--dport ${r.destinationPort}` : `--sport ${r.sourcePort}`;
  return `-A ${r.chain} -p ${r.protocol} -m ${r.protocol} ${port} -m comment --comment "${tag}" -j CT --notrack`;
}

/** The nft rule each seed rule must become (`nft list` text). */
function expectedNftLine(r: (typeof SEED)[number], family: Family, tag: string): string {
  const port = "destinationPort" in r ? `dport ${r.destinationPort}` : `sport ${r.sourcePort}`;
  return `meta nfproto ${family} ${r.protocol} ${port} notrack comment "${tag}"`;
}

async function sh(name: string, cmd: string): Promise<string> {
  const r = await hostExec(name, ["sh", "-c", cmd]);
  if (r.code !== 0) throw new Error(`${name}: ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function fileOrNull(name: string, path: string): Promise<string | null> {
  const r = await hostExec(name, ["cat", path]);
  return r.code === 0 ? r.stdout : null;
}

interface Backend {
  host: string;
  variant?: "nft" | "legacy";
  sudo: boolean;
  resolved: string;
}

const BACKENDS: Backend[] = [
  { host: "ctlab3", variant: "nft", sudo: false, resolved: "iptables-nft" },
  { host: "ctlab4", variant: "legacy", sudo: true, resolved: "iptables-legacy" },
  { host: "ctlab5", sudo: false, resolved: "nftables" },
];
const MINE = BACKENDS.map((b) => b.host);

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) for (const name of MINE) await resetHost(name);
});

function connectionFor(name: string, sudo: boolean): Props {
  const inv = requireLab();
  const host = labHost(inv, name);
  return { host: host.address, user: sudo ? inv.user : "root", sudo, privateKey: readFileSync(inv.privateKeyPath, "utf8"), hostKey: host.hostKey };
}

/** check, as the engine runs it before create/update: returns normalized inputs. */
async function checked(news: Props): Promise<Props> {
  const c = await h().check({}, news);
  expect(c.failures).toBeUndefined();
  return c.inputs as Props;
}

const iptSave = (b: Backend, family: Family) => `${family === "ipv4" ? "iptables" : "ip6tables"}-${b.variant}-save -t raw | grep -v '^#'`;

/** Foreign iptables rules placed before ours ("Docker", an untagged NOTRACK, another resource's tag). */
const FOREIGN_BEFORE = [
  "-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack",
  '-A PREROUTING -p tcp -m tcp --dport 8053 -m comment --comment "pulumi-conntrack:someone-else:0123456789" -j CT --notrack',
  '-A OUTPUT -p udp -m udp --sport 123 -m comment --comment "ntp by hand" -j NOTRACK',
];
const FOREIGN_AFTER = ["-A PREROUTING -p udp -m udp --dport 5354 -j CT --notrack", "-A OUTPUT -p tcp -m tcp --dport 9999 -j CT --notrack"];

/** A saved IPv4 ruleset with other tables and a foreign raw rule, as netfilter-persistent writes it. */
const SAVED_V4 = `# Generated by iptables-save v1.8.9 on Mon Jan  1 00:00:00 2024
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack
COMMIT
# Completed on Mon Jan  1 00:00:00 2024
# Generated by iptables-save v1.8.9 on Mon Jan  1 00:00:00 2024
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "ssh \\"admin\\" access" -j ACCEPT
COMMIT
`;

/** nft rules placed around ours: another table at raw priority, and untagged rules inside ours. */
const NFT_FOREIGN = `table inet other {
	chain pre {
		type filter hook prerouting priority -301; policy accept;
		udp dport 5353 notrack
	}
}
`;

function seedPrograms(b: Backend, family: Family): Props[] {
  return SEED.map((r) => {
    const { name, ...rule } = r;
    return { connection: connectionFor(b.host, b.sudo), ruleName: `dns-${family}-${name}`, family, backend: "auto", ...rule };
  });
}

interface Made {
  family: Family;
  seed: (typeof SEED)[number];
  program: Props;
  news: Props;
  id: string;
  outs: Props;
}

describe.skipIf(!isRoot() || !labRunning())("NotrackRule lifecycle: the seed's DNS rules on each backend", () => {
  describe.each(BACKENDS)("$host ($resolved)", (b) => {
    const made: Made[] = [];
    let savedV6Before: string | null;
    let nftConfBefore: string | null;
    let foreignNftBefore = "";

    beforeAll(async () => {
      await resetHost(b.host);
      if (b.variant) await setBackend(b.host, b.variant);
      if (b.variant) {
        // Unmanaged rules that exist before ours, live (both families) and saved (IPv4 only).
        for (const cmd of ["iptables", "ip6tables"]) {
          const lines = ["*raw", ...FOREIGN_BEFORE, "COMMIT", ""].join("\n");
          const r = await hostExec(b.host, [`${cmd}-${b.variant}-restore`, "--noflush"], lines);
          expect(r.code, r.stderr).toBe(0);
        }
        await hostExec(b.host, ["sh", "-c", "cat > /etc/iptables/rules.v4"], SAVED_V4);
      } else {
        await hostExec(b.host, ["nft", "-f", "-"], NFT_FOREIGN);
        // An untagged rule of someone else inside our own table, before ours.
        await hostExec(b.host, ["nft", "-f", "-"], `table inet pulumi_conntrack {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority -300; policy accept;\n\t\tudp dport 5355 notrack\n\t}\n}\n`);
        foreignNftBefore = await sh(b.host, "nft list table inet other");
      }
      savedV6Before = await fileOrNull(b.host, "/etc/iptables/rules.v6");
      nftConfBefore = await fileOrNull(b.host, "/etc/nftables.conf");
    }, 120_000);

    it("creates the sixteen rules (eight per family) in parallel and records the backend", async (ctx) => {
      requireLab(ctx);
      const programs = [...seedPrograms(b, "ipv4"), ...seedPrograms(b, "ipv6")];
      const results = await Promise.all(
        programs.map(async (program, i) => {
          const news = await checked(program);
          const { id, outs } = await h().create(news);
          return { family: program.family as Family, seed: SEED[i % 8], program, news, id, outs: outs as Props };
        }),
      );
      made.push(...results);
      for (const m of made) {
        expect(m.id).toMatch(new RegExp(`^pulumi-conntrack:dns-${m.family}-${m.seed.name}:[0-9a-f]{10}$`));
        expect(m.outs).toMatchObject({ tag: m.id, resolvedBackend: b.resolved, stateVersion: 1 });
      }
      expect(new Set(made.map((m) => m.id)).size).toBe(16);
    });

    it("puts exactly our rules live, after the unmanaged ones, leaving those byte for byte", async (ctx) => {
      requireLab(ctx);
      for (const family of ["ipv4", "ipv6"] as const) {
        const ours = made.filter((m) => m.family === family);
        if (b.variant) {
          const save = await sh(b.host, iptSave(b, family));
          const lines = save.split("\n").filter((l) => l.startsWith("-A "));
          const mine = lines.filter((l) => ours.some((m) => l.includes(`"${m.id}"`)));
          expect(mine.sort()).toEqual(ours.map((m) => expectedIptablesLine(m.seed, m.id)).sort());
          // Unmanaged rules: same lines, same order, still first in their chains.
          expect(lines.filter((l) => !mine.includes(l))).toEqual(FOREIGN_BEFORE);
          expect(lines.filter((l) => l.startsWith("-A PREROUTING")).slice(0, 2)).toEqual(FOREIGN_BEFORE.slice(0, 2));
        } else {
          const listing = await sh(b.host, "nft list table inet pulumi_conntrack");
          const mine = listing.split("\n").map((l) => l.trim()).filter((l) => ours.some((m) => l.includes(`"${m.id}"`)));
          expect(mine.sort()).toEqual(ours.map((m) => expectedNftLine(m.seed, family, m.id)).sort());
          expect(listing).toMatch(/chain prerouting \{\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tudp dport 5355 notrack\n/);
          expect(await sh(b.host, "nft list table inet other")).toBe(foreignNftBefore);
        }
      }
    });

    it("saves exactly our rules plus what the files held before, and never other tools' live rules", async (ctx) => {
      requireLab(ctx);
      if (b.variant) {
        const v4 = (await fileOrNull(b.host, "/etc/iptables/rules.v4"))!;
        const v4ours = made.filter((m) => m.family === "ipv4");
        const mine = v4.split("\n").filter((l) => v4ours.some((m) => l.includes(`"${m.id}"`)));
        expect(mine.sort()).toEqual(v4ours.map((m) => expectedIptablesLine(m.seed, m.id)).sort());
        expect(v4.split("\n").filter((l) => !mine.includes(l)).join("\n")).toBe(SAVED_V4);
        // Our rules went into the existing *raw table, after its own rule.
        expect(v4.indexOf("--dport 5353")).toBeLessThan(v4.indexOf(v4ours[0].id));
        expect(v4.indexOf(v4ours[0].id)).toBeLessThan(v4.indexOf("*filter"));
        // Live unmanaged rules (one of them tagged by another resource) are not saved by us.
        for (const l of FOREIGN_BEFORE.slice(1)) expect(v4).not.toContain(l);
        const v6 = (await fileOrNull(b.host, "/etc/iptables/rules.v6"))!;
        expect(savedV6Before).toBeNull();
        const v6ours = made.filter((m) => m.family === "ipv6");
        const v6lines = v6.split("\n").filter((l) => l.startsWith("-A "));
        expect(v6lines.sort()).toEqual(v6ours.map((m) => expectedIptablesLine(m.seed, m.id)).sort());
        // The file is valid restore input.
        expect((await hostExec(b.host, [`ip6tables-${b.variant}-restore`, "--test"], v6)).code).toBe(0);
        for (const m of made) expect(m.outs.persistence).toMatchObject({ mechanism: "netfilter-persistent", file: m.family === "ipv4" ? "/etc/iptables/rules.v4" : "/etc/iptables/rules.v6" });
      } else {
        const conf = (await fileOrNull(b.host, "/etc/nftables.conf"))!;
        expect(conf.startsWith(nftConfBefore!)).toBe(true);
        const block = conf.slice(nftConfBefore!.length);
        const mine = block.split("\n").map((l) => l.trim()).filter((l) => l.includes("notrack"));
        expect(mine.sort()).toEqual(made.map((m) => expectedNftLine(m.seed, m.family, m.id)).sort());
        // The untagged rule in our live table is someone else's: not saved by us.
        expect(block).not.toContain("5355");
        // The whole file (Debian's, with `flush ruleset`) loads, and loads twice the same.
        expect((await hostExec(b.host, ["nft", "-c", "-f", "/etc/nftables.conf"])).code).toBe(0);
        for (const m of made) expect(m.outs.persistence).toMatchObject({ mechanism: "nftables", file: "/etc/nftables.conf" });
      }
    });

    it("reads every rule back equal to the program", async (ctx) => {
      requireLab(ctx);
      // Unmanaged rules added after ours must not disturb anything either.
      if (b.variant) {
        for (const cmd of ["iptables", "ip6tables"]) {
          const r = await hostExec(b.host, [`${cmd}-${b.variant}-restore`, "--noflush"], ["*raw", ...FOREIGN_AFTER, "COMMIT", ""].join("\n"));
          expect(r.code, r.stderr).toBe(0);
        }
      } else {
        await sh(b.host, "nft add rule inet pulumi_conntrack output udp dport 5356 notrack");
      }
      await Promise.all(
        made.map(async (m) => {
          const r = await h().read(m.id, m.outs);
          expect(r.id).toBe(m.id);
          expect(r.inputs).toEqual(m.news);
          expect(await h().diff(m.id, r.props!, m.news)).toMatchObject({ changes: false });
        }),
      );
    });

    it("updates match fields in place, atomically and at the same position", async (ctx) => {
      requireLab(ctx);
      const targets = made.filter((m) => m.seed.name === "in-udp-dport" || m.seed.name === "out-tcp-sport");
      const before = await Promise.all(targets.map((m) => position(b, m)));
      await Promise.all(
        targets.map(async (m) => {
          const port = "destinationPort" in m.seed ? "destinationPort" : "sourcePort";
          const news = await checked({ ...m.program, [port]: "53:54" });
          expect(await h().diff(m.id, m.outs, news)).toMatchObject({ changes: true, replaces: [] });
          const { outs } = await h().update(m.id, m.outs, news);
          m.news = news;
          m.program = { ...m.program, [port]: "53:54" };
          m.outs = outs as Props;
          expect(m.outs.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^replaced in place/)]));
        }),
      );
      const after = await Promise.all(targets.map((m) => position(b, m)));
      expect(after).toEqual(before);
      for (const m of targets) {
        const text = await liveLineOf(b, m);
        expect(text).toContain(b.variant ? "53:54" : "53-54");
      }
      await expectForeignUntouched(b);
    });

    it("shows a hand edit of our rule as drift, and the next up repairs it", async (ctx) => {
      requireLab(ctx);
      const m = made.find((x) => x.family === "ipv4" && x.seed.name === "in-tcp-dport")!;
      // A port changed by hand: read reports it in the inputs, diff sees a change, update repairs.
      if (b.variant) {
        const idx = await position(b, m);
        await sh(b.host, `iptables-${b.variant} -t raw -R PREROUTING ${idx} -p tcp --dport 5300 -m comment --comment "${m.id}" -j CT --notrack`);
      } else {
        const handle = await nftHandle(b, m);
        await sh(b.host, `nft replace rule inet pulumi_conntrack prerouting handle ${handle} meta nfproto ipv4 tcp dport 5300 notrack comment '"${m.id}"'`);
      }
      let r = await h().read(m.id, m.outs);
      expect(r.inputs).toEqual({ ...m.news, destinationPort: 5300 });
      await repair(m, r.props!);
      expect(await liveLineOf(b, m)).toBe(b.variant ? expectedIptablesLine(m.seed, m.id) : expectedNftLine(m.seed, "ipv4", m.id));

      // Something inputs cannot express (an extra match): reported as observedDrift, then repaired.
      if (b.variant) {
        const idx = await position(b, m);
        await sh(b.host, `iptables-${b.variant} -t raw -R PREROUTING ${idx} -p tcp --dport 53 -m limit --limit 100/sec -m comment --comment "${m.id}" -j CT --notrack`);
      } else {
        const handle = await nftHandle(b, m);
        await sh(b.host, `nft replace rule inet pulumi_conntrack prerouting handle ${handle} meta nfproto ipv4 tcp dport 53 counter notrack comment '"${m.id}"'`);
      }
      r = await h().read(m.id, m.outs);
      expect(r.inputs).toMatchObject({ ...m.news, observedDrift: [expect.stringMatching(b.variant ? /limit/ : /counter/)] });
      await repair(m, r.props!);
      expect(await liveLineOf(b, m)).toBe(b.variant ? expectedIptablesLine(m.seed, m.id) : expectedNftLine(m.seed, "ipv4", m.id));

      // The saved copy removed by hand: drift, repaired.
      const file = b.variant ? "/etc/iptables/rules.v4" : "/etc/nftables.conf";
      await sh(b.host, `sed -i '/${m.id}/d' ${file}`);
      r = await h().read(m.id, m.outs);
      expect(r.inputs).toMatchObject({ observedDrift: [expect.stringContaining(`not saved in ${file}`)] });
      await repair(m, r.props!);
      expect(await fileOrNull(b.host, file)).toContain(m.id);
      await expectForeignUntouched(b);
    });

    it("reports a rule deleted by hand (live and saved) as gone; the next up creates it again", async (ctx) => {
      requireLab(ctx);
      const m = made.find((x) => x.family === "ipv6" && x.seed.name === "out-udp-dport")!;
      const file = b.variant ? "/etc/iptables/rules.v6" : "/etc/nftables.conf";
      // Deleted live only: the saved copy would bring it back at boot, so it is repaired in place.
      await deleteLiveByHand(b, m);
      let r = await h().read(m.id, m.outs);
      expect(r.inputs).toMatchObject({ observedDrift: [expect.stringMatching(/missing from the live ruleset/)] });
      await repair(m, r.props!);
      expect(await liveLineOf(b, m)).toBeDefined();
      // Deleted live and from the saved file: gone.
      await deleteLiveByHand(b, m);
      await sh(b.host, `sed -i '/${m.id}/d' ${file}`);
      r = await h().read(m.id, m.outs);
      expect(r).toEqual({});
      const { id, outs } = await h().create(m.news);
      expect(id).not.toBe(m.id);
      m.id = id;
      m.outs = outs as Props;
      expect(await liveLineOf(b, m)).toBe(b.variant ? expectedIptablesLine(m.seed, id) : expectedNftLine(m.seed, "ipv6", id));
      expect(await fileOrNull(b.host, file)).toContain(id);
    });

    it("deletes exactly our rules, live and saved, in parallel", async (ctx) => {
      requireLab(ctx);
      await Promise.all(made.map((m) => h().delete(m.id, m.outs)));
      if (b.variant) {
        for (const family of ["ipv4", "ipv6"] as const) {
          const lines = (await sh(b.host, iptSave(b, family))).split("\n").filter((l) => l.startsWith("-A "));
          expect(lines).toEqual([...FOREIGN_BEFORE.slice(0, 2), FOREIGN_AFTER[0], FOREIGN_BEFORE[2], FOREIGN_AFTER[1]]);
        }
        expect(await fileOrNull(b.host, "/etc/iptables/rules.v4")).toBe(SAVED_V4);
        expect(await fileOrNull(b.host, "/etc/iptables/rules.v6")).toBe(savedV6Before);
      } else {
        // Our table stays while it holds someone else's rules; theirs are untouched.
        const listing = await sh(b.host, "nft list table inet pulumi_conntrack");
        expect(listing).not.toContain("pulumi-conntrack:");
        expect(listing).toContain("udp dport 5355 notrack");
        expect(listing).toContain("udp dport 5356 notrack");
        expect(await sh(b.host, "nft list table inet other")).toBe(foreignNftBefore);
        expect(await fileOrNull(b.host, "/etc/nftables.conf")).toBe(nftConfBefore);
      }
      for (const m of made) expect(await h().read(m.id, m.outs)).toEqual({});
    });
  });
});

/** 1-based position of a rule in its chain (iptables), or its index among the chain's rules (nft). */
async function position(b: Backend, m: Made): Promise<number> {
  if (b.variant) {
    const lines = (await sh(b.host, iptSave(b, m.family))).split("\n").filter((l) => l.startsWith(`-A ${m.seed.chain} `));
    const i = lines.findIndex((l) => l.includes(`"${m.id}"`));
    expect(i).toBeGreaterThanOrEqual(0);
    return i + 1;
  }
  const chain = m.seed.chain === "PREROUTING" ? "prerouting" : "output";
  const lines = (await sh(b.host, `nft list chain inet pulumi_conntrack ${chain}`)).split("\n").filter((l) => /notrack/.test(l));
  const i = lines.findIndex((l) => l.includes(`"${m.id}"`));
  expect(i).toBeGreaterThanOrEqual(0);
  return i + 1;
}

async function liveLineOf(b: Backend, m: Made): Promise<string | undefined> {
  if (b.variant) return (await sh(b.host, iptSave(b, m.family))).split("\n").find((l) => l.includes(`"${m.id}"`));
  return (await sh(b.host, "nft list table inet pulumi_conntrack"))
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l.includes(`"${m.id}"`));
}

async function nftHandle(b: Backend, m: Made): Promise<number> {
  const line = (await sh(b.host, "nft -a list table inet pulumi_conntrack")).split("\n").find((l) => l.includes(`"${m.id}"`))!;
  return Number(/# handle (\d+)/.exec(line)![1]);
}

async function deleteLiveByHand(b: Backend, m: Made): Promise<void> {
  if (b.variant) {
    const line = (await liveLineOf(b, m))!;
    const r = await hostExec(b.host, [`${m.family === "ipv4" ? "iptables" : "ip6tables"}-${b.variant}-restore`, "--noflush"], `*raw\n-D ${line.slice(3)}\nCOMMIT\n`);
    expect(r.code, r.stderr).toBe(0);
  } else {
    const chain = m.seed.chain === "PREROUTING" ? "prerouting" : "output";
    await sh(b.host, `nft delete rule inet pulumi_conntrack ${chain} handle ${await nftHandle(b, m)}`);
  }
  expect(await liveLineOf(b, m)).toBeUndefined();
}

/** What `pulumi up` does after a refresh found drift: diff the refreshed state, then update. */
async function repair(m: Made, refreshed: Props): Promise<void> {
  expect(await h().diff(m.id, refreshed, m.news)).toMatchObject({ changes: true, replaces: [] });
  const { outs } = await h().update(m.id, refreshed, m.news);
  m.outs = outs as Props;
  const again = await h().read(m.id, m.outs);
  expect(again.inputs).toEqual(m.news);
}

/** The unmanaged rules are all still there, in their order, byte for byte. */
async function expectForeignUntouched(b: Backend): Promise<void> {
  if (b.variant) {
    for (const family of ["ipv4", "ipv6"] as const) {
      const lines = (await sh(b.host, iptSave(b, family))).split("\n").filter((l) => l.startsWith("-A ") && !/pulumi-conntrack:dns-/.test(l));
      expect(lines).toEqual([...FOREIGN_BEFORE.slice(0, 2), FOREIGN_AFTER[0], FOREIGN_BEFORE[2], FOREIGN_AFTER[1]]);
    }
  } else {
    const listing = await sh(b.host, "nft list table inet pulumi_conntrack");
    expect(listing).toContain("udp dport 5355 notrack");
    expect(listing).toContain("udp dport 5356 notrack");
  }
}

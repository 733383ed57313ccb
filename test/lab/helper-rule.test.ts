/**
 * ConntrackHelperRule on real hosts, one per backend, beside NotrackRules on the same host: ctlab3
 * (iptables-nft), ctlab4 (iptables-legacy, reached as the sudo user `ctlab`) and ctlab5 (native
 * nftables). These are NotrackRule's hosts: the lab tier runs its files one after another
 * (`fileParallelism: false`) and every file resets its hosts before and after, so sharing them is
 * safe. On each: two NotrackRules first; then FTP (IPv4 and IPv6) and SIP helper rules created at once, the
 * rules and saved copies checked as text written here, the helper seen attached to a real connection
 * (`conntrack -L` shows `helper=ftp`), read back equal, updated in place, deleted by hand and
 * repaired, deleted; the host afterwards byte for byte as it was with the NotrackRules alone.
 * Driven through the dynamic-provider handlers; host state asserted with `lab.sh exec`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { snapshotHost } from "../../scripts/lab-hosts";
import {
  hostExec,
  hostSh,
  isRoot,
  labConnection,
  labRunning,
  loadLab,
  requireLab,
  resetHost,
  RULE_BACKENDS as BACKENDS,
  setBackend,
} from "./inventory";

/** An `nft list` text with its counters' values left out: they change with every packet. */
const countless = (text: string) => text.replace(/counter packets \d+ bytes \d+/g, "counter");

type Props = Record<string, unknown>;
const helper = () => handler("ConntrackHelperRule");
const notrack = () => handler("NotrackRule");

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) for (const b of BACKENDS) await resetHost(b.host);
});

async function checked(h: ReturnType<typeof handler>, news: Props): Promise<Props> {
  const c = await h.check({}, news);
  expect(c.failures).toBeUndefined();
  return c.inputs as Props;
}

/** A saved IPv4 ruleset as netfilter-persistent writes it, with another table and a foreign raw rule. */
const SAVED_V4 = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`;

/** The helper rules' programs: FTP for arriving connections, SIP for connections this host opens. */
const FTP = { ruleName: "ftp-in", helper: "ftp", protocol: "tcp", destinationPort: 21 };
const SIP = { ruleName: "sip-out", helper: "sip", protocol: "udp", chain: "OUTPUT", destinationPort: 5060 };
/** FTP over IPv6: ip6tables, or the same `ct helper` object as the IPv4 rule (an `inet` object serves both). */
const FTP6 = { ruleName: "ftp6-in", helper: "ftp", protocol: "tcp", destinationPort: 21, family: "ipv6" };

describe.skipIf(!isRoot() || !labRunning())("ConntrackHelperRule beside NotrackRules", () => {
  describe.each(BACKENDS)("$host ($resolved)", (b) => {
    const conn = () => labConnection(b.host, { sudo: b.sudo });
    // Chosen explicitly: a fresh host without iptables tables would make `auto` pick native nftables.
    const backend = b.variant ? "iptables" : "nftables";
    let withNotrackOnly = "";
    const notracks: Array<{ id: string; news: Props }> = [];
    const made: Record<string, { id: string; news: Props; outs: Props }> = {};

    beforeAll(async () => {
      await resetHost(b.host);
      if (b.variant) {
        await setBackend(b.host, b.variant);
        await hostExec(b.host, ["sh", "-c", "cat > /etc/iptables/rules.v4"], SAVED_V4);
      }
      for (const r of [
        { ruleName: "dns-in", chain: "PREROUTING", protocol: "udp", destinationPort: 53 },
        { ruleName: "dns-out", chain: "OUTPUT", protocol: "udp", sourcePort: 53 },
      ]) {
        const news = await checked(notrack(), { connection: conn(), backend, ...r });
        const { id } = await notrack().create(news);
        notracks.push({ id, news });
      }
      withNotrackOnly = await snapshotHost(b.host);
    }, 120_000);

    it("creates an FTP and a SIP helper rule in one batch, beside the NOTRACK rules", async (ctx) => {
      requireLab(ctx);
      const results = await Promise.all(
        [FTP, SIP, FTP6].map(async (r) => {
          const news = await checked(helper(), { connection: conn(), backend, ...r });
          const { id, outs } = await helper().create(news);
          return { id, news, outs: outs as Props };
        }),
      );
      made.ftp = results[0];
      made.sip = results[1];
      made.ftp6 = results[2];
      expect(made.ftp.id).toMatch(/^pulumi-conntrack:helper:ftp-in:[0-9a-f]{10}$/);
      expect(made.ftp.outs).toMatchObject({ resolvedBackend: b.resolved, kernelHelper: "ftp", stateVersion: 1 });
      // The lab's kernel has the helpers built in: nothing to load.
      expect(made.ftp.outs.helperModule).toEqual({ name: "nf_conntrack_ftp", state: "builtin" });
      expect(made.sip.outs).toMatchObject({ kernelHelper: "sip" });
    });

    it("writes exactly the rules and saved copies, NOTRACK rules untouched", async (ctx) => {
      requireLab(ctx);
      if (b.variant) {
        const save = await hostSh(b.host, `iptables-${b.variant}-save -t raw | grep '^-A'`);
        const lines = save.trim().split("\n");
        expect(lines).toContain(`-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "${made.ftp.id}" -j CT --helper ftp`);
        expect(lines).toContain(`-A OUTPUT -p udp -m udp --dport 5060 -m comment --comment "${made.sip.id}" -j CT --helper sip`);
        expect(lines.filter((l) => l.includes("--notrack")).length).toBe(2);
        const save6 = await hostSh(b.host, `ip6tables-${b.variant}-save -t raw | grep '^-A'`);
        expect(save6.trim().split("\n")).toEqual([
          `-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "${made.ftp6.id}" -j CT --helper ftp`,
        ]);
        const saved = await hostSh(b.host, "cat /etc/iptables/rules.v4");
        expect(saved).toContain(`-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "${made.ftp.id}" -j CT --helper ftp`);
        expect(saved).toContain("-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack");
      } else {
        const listing = countless(await hostSh(b.host, "nft list table inet pulumi_conntrack"));
        expect(listing).toMatch(/ct helper ftp-tcp \{\s+type "ftp" protocol tcp\s+l3proto inet\s+\}/);
        expect(listing).toMatch(/ct helper sip-udp \{\s+type "sip" protocol udp\s+l3proto inet\s+\}/);
        expect(listing).toMatch(/chain helper_prerouting \{\s+type filter hook prerouting priority mangle; policy accept;/);
        expect(listing).toContain(`meta nfproto ipv4 tcp dport 21 counter ct helper set "ftp-tcp" comment "${made.ftp.id}"`);
        expect(listing).toContain(`meta nfproto ipv4 udp dport 5060 counter ct helper set "sip-udp" comment "${made.sip.id}"`);
        expect(listing).toContain(`meta nfproto ipv6 tcp dport 21 counter ct helper set "ftp-tcp" comment "${made.ftp6.id}"`);
        expect(listing.match(/ct helper ftp-tcp \{/g)).toHaveLength(1);
        // The NOTRACK rules stay in the raw-priority chains.
        expect(listing).toMatch(
          /chain prerouting \{\s+type filter hook prerouting priority raw; policy accept;\s+meta nfproto ipv4 udp dport 53 counter notrack/,
        );
        const conf = await hostSh(b.host, "cat /etc/nftables.conf");
        expect(conf).toContain('\tct helper ftp-tcp { type "ftp" protocol tcp; }');
        expect(conf).toContain(`\t\tmeta nfproto ipv4 tcp dport 21 counter ct helper set "ftp-tcp" comment "${made.ftp.id}"`);
        // The saved block loads as it is.
        expect((await hostExec(b.host, ["nft", "-c", "-f", "/etc/nftables.conf"])).code).toBe(0);
      }
    });

    it("attaches the helper to a real connection (conntrack -L shows helper=sip / helper=ftp)", async (ctx) => {
      requireLab(ctx);
      // A SIP packet this host sends to port 5060 (OUTPUT rule), and an FTP connection arriving on
      // port 21 (PREROUTING rule) from the host itself over another host's address is not possible in
      // one namespace: the OUTPUT rule is proven on a real flow, the PREROUTING rule by a helper rule of
      // the same text in OUTPUT below.
      await hostSh(b.host, "conntrack -F >/dev/null 2>&1 || true");
      await hostSh(b.host, "printf x | timeout 2 bash -c 'cat > /dev/udp/127.0.0.1/5060' || true");
      const ct = await hostSh(b.host, "conntrack -L -p udp --dport 5060 2>/dev/null || true");
      expect(ct).toMatch(/helper=sip/);
    });

    it("reads back equal, and an OUTPUT FTP rule attaches ftp to a local TCP connection", async (ctx) => {
      requireLab(ctx);
      for (const m of [made.ftp, made.sip]) {
        const r = await helper().read(m.id, { ...m.news, ...m.outs });
        expect(r.id).toBe(m.id);
        expect((r.inputs as Props).observedDrift).toBeUndefined();
        expect(r.inputs).toMatchObject({ helper: m.news.helper, protocol: m.news.protocol, destinationPort: m.news.destinationPort });
      }
      for (const n of notracks) {
        const r = await notrack().read(n.id, n.news);
        expect((r.inputs as Props).observedDrift).toBeUndefined();
      }
      const news = await checked(helper(), {
        connection: conn(),
        backend,
        ruleName: "ftp-out",
        helper: "ftp",
        protocol: "tcp",
        chain: "OUTPUT",
        destinationPort: 2121,
      });
      const { id, outs } = await helper().create(news);
      // A listener, so that the connection is established (a refused one leaves no entry behind).
      await hostSh(
        b.host,
        "(timeout 5 python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", 2121)); s.listen(); time.sleep(4)' &) ; sleep 0.5; timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/2121' 2>/dev/null || true",
      );
      const ct = await hostSh(b.host, "conntrack -L -p tcp --dport 2121 2>/dev/null || true");
      expect(ct).toMatch(/helper=ftp/);
      await helper().delete(id, { ...news, ...(outs as Props) });
    });

    it("updates in place, repairs a rule deleted by hand, and deletes back to the NOTRACK-only host byte for byte", async (ctx) => {
      requireLab(ctx);
      const ftp = made.ftp;
      const news = await checked(helper(), { connection: conn(), backend, ...FTP, destinationPort: "21:22" });
      const d = await helper().diff(ftp.id, { ...ftp.news, ...ftp.outs }, news);
      expect(d.changes).toBe(true);
      expect(d.replaces ?? []).toEqual([]);
      const outs = (await helper().update(ftp.id, { ...ftp.news, ...ftp.outs }, news)).outs as Props;
      expect(outs.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^replaced in place/)]));
      // Deleted by hand from the live ruleset: read says so, the next update puts it back.
      if (b.variant)
        await hostSh(
          b.host,
          `iptables-${b.variant}-save -t raw | grep -- '${ftp.id}' | sed 's/^-A /-D /' | while read -r l; do eval iptables-${b.variant} -t raw $l; done`,
        );
      else {
        const handle = (await hostSh(b.host, "nft -a list chain inet pulumi_conntrack helper_prerouting")).match(
          /ct helper set .* # handle (\d+)/,
        )![1];
        await hostSh(b.host, `nft delete rule inet pulumi_conntrack helper_prerouting handle ${handle}`);
      }
      const r = await helper().read(ftp.id, { ...news, ...outs });
      expect((r.inputs as Props).observedDrift).toEqual([expect.stringMatching(/missing from the live ruleset but still saved/)]);
      const d2 = await helper().diff(ftp.id, r.props as Props, news);
      expect(d2.changes).toBe(true);
      const repaired = (await helper().update(ftp.id, r.props as Props, news)).outs as Props;
      expect(repaired.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^added/)]));
      // The IPv6 FTP rule goes first: on nftables the shared ftp-tcp object stays for the IPv4 rule.
      await helper().delete(made.ftp6.id, { ...made.ftp6.news, ...made.ftp6.outs });
      if (!b.variant) expect(await hostSh(b.host, "nft list table inet pulumi_conntrack")).toMatch(/ct helper ftp-tcp \{/);
      // Both IPv4 helper rules go in one batch; the host is as the NOTRACK rules alone left it.
      await Promise.all([
        helper().delete(ftp.id, { ...news, ...repaired }),
        helper().delete(made.sip.id, { ...made.sip.news, ...made.sip.outs }),
      ]);
      expect(await snapshotHost(b.host)).toBe(withNotrackOnly);
      for (const n of notracks) await notrack().delete(n.id, n.news);
    });
  });
});

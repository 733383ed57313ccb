import { describe, expect, it } from "vitest";
import { parseConntrackS, parseIptablesCounters, parseNftCounters, parseProcfsStat, parseStatus } from "../../../provider/status/parse";
import { CT_S_NEW, CT_S_OLD, IPT_SAVE, NFT_JSON, PROCFS_NEW, PROCFS_OLD, statusOutput } from "./fixtures";

describe("conntrack -S", () => {
  it("sums per-CPU lines of a new kernel, clash_resolve and chaintoolong included", () => {
    expect(parseConntrackS(CT_S_NEW)).toEqual({
      cpus: 2,
      stats: {
        found: 20,
        invalid: 400,
        insert: 0,
        insert_failed: 2,
        drop: 6,
        early_drop: 42,
        error: 1,
        search_restart: 8,
        clash_resolve: 7,
        chaintoolong: 1,
      },
    });
  });
  it("sums an old kernel's lines, ignoring columns it no longer has a meaning for, and does not invent the newer ones", () => {
    const r = parseConntrackS(CT_S_OLD);
    expect(r.cpus).toBe(2);
    expect(r.stats).toEqual({
      found: 51225,
      invalid: 20,
      insert: 6400,
      insert_failed: 1,
      drop: 4,
      early_drop: 6,
      error: 2,
      search_restart: 9,
    });
    expect(r.stats.clash_resolve).toBeUndefined();
  });
});

describe("/proc/net/stat/nf_conntrack", () => {
  it("sums hex columns by the header's names on an old kernel, never the entries column", () => {
    const r = parseProcfsStat(PROCFS_OLD);
    expect(r.cpus).toBe(2);
    expect(r.stats).toEqual({
      found: 0x3c + 4,
      invalid: 5 + 0xb,
      insert: 0,
      insert_failed: 2,
      drop: 8,
      early_drop: 13,
      error: 1,
      search_restart: 17,
    });
  });
  it("maps the new kernel's clashres and chainlength to clash_resolve and chaintoolong", () => {
    const r = parseProcfsStat(PROCFS_NEW);
    expect(r.stats).toMatchObject({ clash_resolve: 3, chaintoolong: 1, invalid: 256, insert_failed: 3, found: 2 });
  });
  it("is empty for an empty file", () => {
    expect(parseProcfsStat("")).toEqual({ cpus: 0, stats: {} });
  });
});

describe("NOTRACK counters", () => {
  it("takes only this package's tagged NOTRACK rules from iptables-save -c, and CT --helper assignments", () => {
    const r = parseIptablesCounters(IPT_SAVE, "iptables-nft", "ipv4");
    expect(r.counters).toEqual([
      { tag: "pulumi-conntrack:dns-udp-in", backend: "iptables-nft", family: "ipv4", chain: "PREROUTING", packets: 1200, bytes: 96000 },
      { tag: "pulumi-conntrack:dns-udp-out", backend: "iptables-nft", family: "ipv4", chain: "OUTPUT", packets: 5, bytes: 300 },
    ]);
    expect(r.helpers).toEqual(["ftp"]);
  });
  it("reads nft counters where the rule has one and says null where it has none", () => {
    const r = parseNftCounters(NFT_JSON);
    expect(r.counters.map((c) => [c.tag, c.packets])).toEqual([
      ["pulumi-conntrack:a", 10],
      ["pulumi-conntrack:b", null],
    ]);
    expect(r.helpers).toEqual(["ftp"]);
    expect(parseNftCounters("")).toEqual({ counters: [], helpers: [] });
    expect(parseNftCounters("not json")).toEqual({ counters: [], helpers: [], unreadable: true });
  });
  it("reads nft counters as this release writes the rules: by tag, with their family, never a named counter's", () => {
    const rule = (handle: number, comment: string, family: string, ...stmts: unknown[]) => ({
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "prerouting",
        handle,
        comment,
        expr: [
          { match: { op: "==", left: { meta: { key: "nfproto" } }, right: family } },
          { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 53 } },
          ...stmts,
        ],
      },
    });
    const json = JSON.stringify({
      nftables: [
        rule(9, "pulumi-conntrack:dns-ipv6-udp-in-dport:x", "ipv6", { counter: { packets: 7, bytes: 640 } }, { notrack: null }),
        rule(4, "pulumi-conntrack:dns-ipv4-udp-in-dport:y", "ipv4", { counter: { packets: 20, bytes: 1240 } }, { notrack: null }),
        rule(5, "pulumi-conntrack:named:z", "ipv4", { counter: "dns" }, { notrack: null }),
        rule(6, "someone-else", "ipv4", { counter: { packets: 99, bytes: 99 } }, { notrack: null }),
        rule(7, "pulumi-conntrack:helper:w", "ipv4", { counter: { packets: 1, bytes: 1 } }, { "ct helper": "ftp-standard" }),
      ],
    });
    expect(parseNftCounters(json).counters).toEqual([
      { tag: "pulumi-conntrack:dns-ipv6-udp-in-dport:x", backend: "nftables", family: "ipv6", chain: "prerouting", packets: 7, bytes: 640 },
      {
        tag: "pulumi-conntrack:dns-ipv4-udp-in-dport:y",
        backend: "nftables",
        family: "ipv4",
        chain: "prerouting",
        packets: 20,
        bytes: 1240,
      },
      { tag: "pulumi-conntrack:named:z", backend: "nftables", family: "ipv4", chain: "prerouting", packets: null, bytes: null },
    ]);
  });
});

describe("parseStatus", () => {
  it("prefers conntrack -S and reports usage, helpers and NOTRACK counters", () => {
    const s = parseStatus(statusOutput({}));
    expect(s).toMatchObject({
      kernelRelease: "6.18.44",
      count: 1500,
      max: 2000,
      buckets: 512,
      usage: 0.75,
      source: "conntrack -S",
      cpus: 2,
    });
    expect(s.stats.early_drop).toBe(42);
    expect(s.helperModules).toEqual([
      { name: "ftp", refcnt: 2 },
      { name: "sip", refcnt: 0 },
    ]);
    expect(s.helperRules).toEqual(["ftp"]);
    expect(s.notrack).toHaveLength(2);
    expect(s.missing).toEqual([]);
  });
  it("falls back to procfs without the conntrack tool and says so", () => {
    const s = parseStatus(
      statusOutput({ table: "kernel=4.19.0\ncount=1\nmax=65536\nbuckets=16384\nprocfs=1", ctstats: "", procfs: PROCFS_OLD }),
    );
    expect(s.source).toBe("/proc/net/stat/nf_conntrack");
    expect(s.stats.early_drop).toBe(13);
    expect(s.missing).toEqual([
      "no conntrack tool (conntrack-tools) on the host",
      "clash_resolve, chaintoolong not reported by this kernel",
    ]);
  });
  it("falls back to procfs when conntrack -S fails (exit code, not stderr, decides)", () => {
    const s = parseStatus(statusOutput({ ctstats: "rc=1", procfs: PROCFS_NEW }));
    expect(s.source).toBe("/proc/net/stat/nf_conntrack");
    expect(s.missing[0]).toMatch(/conntrack -S failed \(exit 1/);
  });
  it("says when there is no source at all (no tool, no procfs file), and when nft rules have no counter", () => {
    const s = parseStatus(statusOutput({ table: "kernel=6.6.0\ncount=3\nmax=100", ctstats: "", procfs: "", ipt: {}, nft: NFT_JSON }));
    expect(s.source).toBe("none");
    expect(s.stats).toEqual({});
    expect(s.missing).toEqual([
      "no conntrack tool (conntrack-tools) on the host",
      "no /proc/net/stat/nf_conntrack (kernels built without NF_CONNTRACK_PROCFS, the default since 2022)",
      "no per-CPU counters (found, drop, early_drop ...)",
      "no iptables raw table to read",
      "nftables NOTRACK rules of this package carry no counter statement: no packet counts for them (1 rule, as releases before counters wrote them; the next update of each adds one)",
    ]);
  });
  it("reports nft counters with no note when every rule has one, and an unreadable nft table by its exit code", () => {
    const counted = JSON.parse(NFT_JSON) as { nftables: Array<{ rule?: { expr: unknown[] } }> };
    for (const item of counted.nftables) if (item.rule) item.rule.expr = [{ counter: { packets: 3, bytes: 180 } }, { notrack: null }];
    const ok = parseStatus(statusOutput({ nft: `${JSON.stringify(counted)}\n@@ctk nft.rc\nrc=0` }));
    expect(ok.notrack.filter((c) => c.backend === "nftables").map((c) => c.packets)).toEqual([3, 3]);
    expect(ok.missing).toEqual([]);
    const failed = parseStatus(statusOutput({ nft: "\n@@ctk nft.rc\nrc=1" }));
    expect(failed.notrack.filter((c) => c.backend === "nftables")).toEqual([]);
    expect(failed.missing).toEqual(["nftables table inet pulumi_conntrack could not be read (exit 1)"]);
    const garbled = parseStatus(statusOutput({ nft: "{not json\n@@ctk nft.rc\nrc=0" }));
    expect(garbled.missing).toEqual(["nftables table inet pulumi_conntrack could not be read (its listing is not JSON)"]);
  });
  it("reports an unreadable raw table by its exit code and a missing max", () => {
    const s = parseStatus(statusOutput({ table: "kernel=6.1.0\nconntrack_tool=/usr/sbin/conntrack", ipt: { "legacy.6": "rc=4" } }));
    expect(s.max).toBeNull();
    expect(s.usage).toBeNull();
    expect(s.missing).toContain("iptables-legacy raw table (ipv6) could not be read (exit 4)");
    expect(s.missing[0]).toMatch(/nf_conntrack_max is absent/);
  });
});

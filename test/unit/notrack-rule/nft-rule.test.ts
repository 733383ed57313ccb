/** nft rule text and the JSON listing, as nftables 1.0.6 printed them. */
import { describe, expect, it } from "vitest";
import { parseNftListing, parseNftRule, renderNftRule, withoutCounter } from "../../../provider/resources/notrack-rule/syntax/nft-rule";

const TAG = "pulumi-conntrack:dns:0123456789";

/** `nft -j list table inet pulumi_conntrack` after adding the rules below (abridged metainfo). */
const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "inet", name: "pulumi_conntrack", handle: 1 } },
    {
      chain: {
        family: "inet",
        table: "pulumi_conntrack",
        name: "prerouting",
        handle: 1,
        type: "filter",
        hook: "prerouting",
        prio: -300,
        policy: "accept",
      },
    },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "prerouting",
        handle: 3,
        comment: "pulumi-conntrack:a:1",
        expr: [
          { match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv4" } },
          { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 53 } },
          { notrack: null },
        ],
      },
    },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "prerouting",
        handle: 4,
        comment: "pulumi-conntrack:a:2",
        expr: [
          { match: { op: "==", left: { meta: { key: "iifname" } }, right: "eth*" } },
          { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: { prefix: { addr: "10.0.0.0", len: 24 } } } },
          { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: "1.2.3.4" } },
          { match: { op: "==", left: { payload: { protocol: "tcp", field: "sport" } }, right: { range: [1000, 2000] } } },
          { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 53 } },
          { notrack: null },
        ],
      },
    },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "output",
        handle: 5,
        comment: "pulumi-conntrack:a:3",
        expr: [
          { match: { op: "==", left: { meta: { key: "oifname" } }, right: "eth0" } },
          { match: { op: "==", left: { payload: { protocol: "ip6", field: "saddr" } }, right: { prefix: { addr: "fd42::", len: 64 } } } },
          { match: { op: "==", left: { meta: { key: "l4proto" } }, right: "ipv6-icmp" } },
          { notrack: null },
        ],
      },
    },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "output",
        handle: 8,
        comment: "pulumi-conntrack:a:6",
        expr: [{ match: { op: "==", left: { meta: { key: "l4proto" } }, right: "icmp" } }, { notrack: null }],
      },
    },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "output",
        handle: 9,
        expr: [
          { match: { op: "==", left: { meta: { key: "l4proto" } }, right: "udp" } },
          { counter: { packets: 0, bytes: 0 } },
          { notrack: null },
        ],
      },
    },
    { rule: { family: "ip", table: "raw", chain: "PREROUTING", handle: 2, expr: [{ notrack: null }] } },
  ],
});

describe("nft rules", () => {
  it("renders the family explicitly (an inet table sees both), and ranges and wildcards nft's way", () => {
    expect(renderNftRule({ family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 }, TAG)).toBe(
      `meta nfproto ipv4 udp dport 53 counter notrack comment "${TAG}"`,
    );
    expect(
      renderNftRule(
        { family: "ipv6", chain: "PREROUTING", protocol: "tcp", inInterface: "eth+", source: "fd42::/64", sourcePort: "1024:65535" },
        TAG,
      ),
    ).toBe(`meta nfproto ipv6 iifname "eth*" ip6 saddr fd42::/64 tcp sport 1024-65535 counter notrack comment "${TAG}"`);
    expect(renderNftRule({ family: "ipv6", chain: "OUTPUT", protocol: "icmpv6" }, TAG)).toBe(
      `meta nfproto ipv6 meta l4proto ipv6-icmp counter notrack comment "${TAG}"`,
    );
    expect(renderNftRule({ family: "ipv4", chain: "OUTPUT", protocol: "all" }, TAG)).toBe(
      `meta nfproto ipv4 counter notrack comment "${TAG}"`,
    );
    // As releases before counters wrote it: named so, never written again.
    expect(renderNftRule({ family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 }, TAG, false)).toBe(
      `meta nfproto ipv4 udp dport 53 notrack comment "${TAG}"`,
    );
  });

  it("reads the JSON listing back, inferring what nft left out as implied", () => {
    const rules = parseNftListing(LISTING);
    expect(rules.map((r) => r.handle)).toEqual([3, 4, 5, 8, 9]);
    expect(rules.map((r) => parseNftRule(r))).toEqual([
      { spec: { family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 }, notrack: true, counter: false, extras: [] },
      {
        spec: {
          family: "ipv4",
          chain: "PREROUTING",
          protocol: "tcp",
          inInterface: "eth+",
          source: "10.0.0.0/24",
          destination: "1.2.3.4",
          sourcePort: "1000:2000",
          destinationPort: 53,
        },
        notrack: true,
        counter: false,
        extras: [],
      },
      {
        spec: { family: "ipv6", chain: "OUTPUT", protocol: "icmpv6", outInterface: "eth0", source: "fd42::/64" },
        notrack: true,
        counter: false,
        extras: [],
      },
      { spec: { family: "ipv4", chain: "OUTPUT", protocol: "icmp" }, notrack: true, counter: false, extras: [] },
      {
        spec: { family: "ipv4", chain: "OUTPUT", protocol: "udp" },
        notrack: true,
        counter: true,
        extras: ["matches both families (no meta nfproto)"],
      },
    ]);
    expect(parseNftListing("")).toEqual([]);
  });

  it("reads the anonymous counter as the rule's own, whatever its counts; a named or second counter is not", () => {
    const rule = (...stmts: unknown[]) => ({
      chain: "prerouting",
      handle: 4,
      comment: TAG,
      expr: [
        { match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv4" } },
        { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 53 } },
        ...stmts,
      ],
    });
    const spec = { family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 };
    const fresh = parseNftRule(rule({ counter: { packets: 0, bytes: 0 } }, { notrack: null }));
    const busy = parseNftRule(rule({ counter: { packets: 918273, bytes: 61234567 } }, { notrack: null }));
    const old = parseNftRule(rule({ notrack: null }));
    expect(fresh).toEqual({ spec, notrack: true, counter: true, extras: [] });
    expect(busy).toEqual(fresh);
    // The stateless listing the observation reads (`nft -j -s`): the counter without its values.
    expect(parseNftRule(rule({ counter: null }, { notrack: null }))).toEqual(fresh);
    expect(old).toEqual({ spec, notrack: true, counter: false, extras: [] });
    // After the notrack statement it counts the same packets.
    expect(parseNftRule(rule({ notrack: null }, { counter: { packets: 3, bytes: 9 } }))).toEqual(fresh);
    expect(parseNftRule(rule({ counter: "dns" }, { notrack: null })).extras).toEqual(['counter "dns"']);
    expect(
      parseNftRule(rule({ counter: { packets: 1, bytes: 2 } }, { counter: { packets: 1, bytes: 2 } }, { notrack: null })).extras,
    ).toEqual(["a second counter statement"]);
  });

  it("compares statement lines without their counter, with or without counts", () => {
    const want = renderNftRule({ family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 }, TAG);
    const key = `meta nfproto ipv4 udp dport 53 notrack comment "${TAG}"`;
    expect(withoutCounter(want)).toBe(key);
    expect(withoutCounter(`meta nfproto ipv4 udp dport 53 counter packets 17 bytes 1190 notrack comment "${TAG}"`)).toBe(key);
    expect(withoutCounter(key)).toBe(key);
    expect(withoutCounter(`meta nfproto ipv4 udp dport 54 counter notrack comment "${TAG}"`)).not.toBe(key);
  });
});

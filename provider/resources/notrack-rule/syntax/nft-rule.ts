/**
 * Raw-table rules in native nftables: the rule text this package writes into its own `inet` table
 * (NOTRACK rules in chains at raw priority, helper rules in chains after conntrack's lookup), and
 * reading rules back from `nft -j list table` (the JSON listing, stable where the text listing
 * changes between nft versions).
 */
import { NFT_TABLE } from "../../../common/markers";
import { nftItems, nftObject } from "../../../common/nft-json";
import { canonicalCidr, type Family } from "./address";
import { helperObjectName, parseHelperObjectName } from "./helpers";
import { nftPort, parsePort } from "./ports";
import { TAG_PATTERN } from "./tag";
import type { Chain, Protocol, RuleSpec } from "./rule";

/** nft's name of a raw-table chain in this package's table. */
export function nftChainName(chain: Chain): "prerouting" | "output" {
  return chain === "PREROUTING" ? "prerouting" : "output";
}

/** The base chains of this package's table. */
export type NftChain = "prerouting" | "output" | "helper_prerouting" | "helper_output";

/**
 * The nft chain of a rule: NOTRACK rules in `prerouting`/`output` (raw priority); helper rules in
 * `helper_prerouting`/`helper_output`, since `ct helper set` needs the connection conntrack's
 * lookup (priority -200) has made.
 */
export function nftChainOf(spec: Pick<RuleSpec, "chain" | "helper">): NftChain {
  const name = nftChainName(spec.chain);
  return spec.helper === undefined ? name : `helper_${name}`;
}

/** The raw-table chain of an nft chain name of this package's table. */
export function chainOfNft(name: string): Chain | undefined {
  const base = name.startsWith("helper_") ? name.slice("helper_".length) : name;
  return base === "prerouting" ? "PREROUTING" : base === "output" ? "OUTPUT" : undefined;
}

/**
 * The base chains of the table. Priority -300 is `raw` (named priorities need nftables >= 0.9.1;
 * the number works everywhere): below conntrack's -200, so `notrack` runs first.
 */
export const NFT_CHAIN_DECLARATIONS: Record<NftChain, string> = {
  prerouting: "type filter hook prerouting priority -300; policy accept;",
  output: "type filter hook output priority -300; policy accept;",
  // -150 (`mangle`): after conntrack's lookup at -200, which `ct helper set` needs (the connection
  // must exist, still unconfirmed), and before NAT and conntrack's confirm.
  helper_prerouting: "type filter hook prerouting priority -150; policy accept;",
  helper_output: "type filter hook output priority -150; policy accept;",
};

function nftProtocol(p: Protocol): string {
  return p === "icmpv6" ? "ipv6-icmp" : p;
}

function nftInterface(name: string): string {
  return `"${name.endsWith("+") ? `${name.slice(0, -1)}*` : name}"`;
}

/**
 * The rule's statement text, comment included (`meta nfproto ipv4 udp dport 53 counter notrack
 * comment "tag"`). The family is always matched explicitly: in an `inet` table a rule without it
 * would apply to both families. The anonymous `counter` gives the rule the packet and byte counts
 * iptables rules always have (read by `status`); its values are never part of the rule's identity
 * (see {@link withoutCounter}). `counter: false` renders a rule as releases before counters wrote
 * it, to name such a rule as it is.
 */
export function renderNftRule(spec: RuleSpec, tag: string, counter = true): string {
  if (!TAG_PATTERN.test(tag)) throw new TypeError(`bad rule tag ${JSON.stringify(tag)}`);
  const w: string[] = ["meta", "nfproto", spec.family];
  if (spec.inInterface) w.push("iifname", nftInterface(spec.inInterface));
  if (spec.outInterface) w.push("oifname", nftInterface(spec.outInterface));
  const l3 = spec.family === "ipv4" ? "ip" : "ip6";
  if (spec.source) w.push(l3, "saddr", spec.source);
  if (spec.destination) w.push(l3, "daddr", spec.destination);
  const hasPorts = spec.sourcePort !== undefined || spec.destinationPort !== undefined;
  if (spec.protocol !== "all" && !hasPorts) w.push("meta", "l4proto", nftProtocol(spec.protocol));
  if (spec.sourcePort !== undefined) w.push(spec.protocol, "sport", nftPort(spec.sourcePort));
  if (spec.destinationPort !== undefined) w.push(spec.protocol, "dport", nftPort(spec.destinationPort));
  if (counter) w.push("counter");
  if (spec.helper === undefined) w.push("notrack");
  else w.push("ct", "helper", "set", `"${helperObjectName(spec.helper, spec.protocol)}"`);
  w.push("comment", `"${tag}"`);
  const text = w.join(" ");
  if (!/^[A-Za-z0-9 ._:/*"-]+$/.test(text)) throw new TypeError(`refusing to send an unexpected rule text: ${JSON.stringify(text)}`);
  return text;
}

/**
 * A statement line with its anonymous counter taken out (`counter`, or `counter packets N bytes M`
 * as `nft list` prints it): what two lines are compared by. The values change with every packet,
 * and rules written before counters carry none: neither is a difference.
 */
export function withoutCounter(text: string): string {
  return text.replace(/(^|\s)counter(?: packets \d+ bytes \d+)?(?=\s|$)/, "").trim();
}

/** A rule of this package's table as `nft -j list table` shows it. */
export interface NftListedRule {
  chain: string;
  handle: number;
  comment?: string;
  expr: unknown[];
}

/** The rules of {@link NFT_TABLE} in an `nft -j list table inet ...` listing (empty when absent). */
export function parseNftListing(json: string): NftListedRule[] {
  const out: NftListedRule[] = [];
  for (const item of nftItems(json)) {
    const r = nftObject(item, "rule");
    if (!r || r.family !== "inet" || r.table !== NFT_TABLE) continue;
    out.push({
      chain: String(r.chain),
      handle: Number(r.handle),
      comment: typeof r.comment === "string" ? r.comment : undefined,
      expr: Array.isArray(r.expr) ? r.expr : [],
    });
  }
  return out;
}

/** The `ct helper` object a listed rule sets, if any (`{"ct helper": "ftp-tcp"}`). */
export function helperObjectOf(rule: Pick<NftListedRule, "expr">): string | undefined {
  for (const e of rule.expr as Json[]) {
    const v = e?.["ct helper"];
    if (typeof v === "string") return v;
  }
  return undefined;
}

/** Names of the `ct helper` objects of {@link NFT_TABLE} in an `nft -j list table` listing. */
export function parseNftHelperObjects(json: string): string[] {
  const out: string[] = [];
  for (const item of nftItems(json)) {
    const o = nftObject(item, "ct helper");
    if (o && o.family === "inet" && o.table === NFT_TABLE && typeof o.name === "string") out.push(o.name);
  }
  return out;
}

/** A listed rule read back. */
export interface ParsedNftRule {
  spec: RuleSpec;
  notrack: boolean;
  /**
   * Whether the rule has its anonymous `counter`. Its values are not part of the match, and a rule
   * without one (as releases before counters wrote it) is the same rule.
   */
  counter: boolean;
  /** Statements this package does not write (named or second counters, logs, other matches, negations). */
  extras: string[];
}

const L4: Record<string, Protocol> = {
  tcp: "tcp",
  udp: "udp",
  sctp: "sctp",
  icmp: "icmp",
  "ipv6-icmp": "icmpv6",
  icmpv6: "icmpv6",
  "6": "tcp",
  "17": "udp",
  "132": "sctp",
  "1": "icmp",
  "58": "icmpv6",
};

type Json = Record<string, unknown>;

/** Reads a listed rule into a match. `chain` is the raw-table chain the rule's nft chain maps to. */
export function parseNftRule(rule: NftListedRule): ParsedNftRule {
  const extras: string[] = [];
  let family: Family | undefined;
  let protocol: Protocol | undefined;
  const spec: Partial<RuleSpec> = {};
  const chain = chainOfNft(rule.chain);
  if (chain) spec.chain = chain;
  else extras.push(`in chain ${rule.chain}`);
  let notrack = false;
  let counter = false;
  let helperObject: string | undefined;
  const setFamily = (f: Family, what: string) => {
    if (family && family !== f) extras.push(`${what} contradicts family ${family}`);
    family = f;
  };
  const setProtocol = (p: Protocol, what: string) => {
    if (protocol && protocol !== p) extras.push(`${what} contradicts protocol ${protocol}`);
    protocol = p;
  };
  for (const e of rule.expr as Json[]) {
    if (e && "notrack" in e) {
      notrack = true;
      continue;
    }
    if (e && "counter" in e) {
      // The anonymous counter is this package's: `{"counter": null}` in the stateless listing the
      // observation reads (`nft -j -s`), `{"counter": {"packets": N, "bytes": M}}` with values. A
      // named counter (`{"counter": "name"}`) or a second one is not.
      const c = e.counter;
      if (!counter && (c === null || (typeof c === "object" && !Array.isArray(c)))) counter = true;
      else extras.push(typeof c === "string" ? `counter ${JSON.stringify(c)}` : "a second counter statement");
      continue;
    }
    if (e && typeof e["ct helper"] === "string") {
      helperObject = e["ct helper"];
      continue;
    }
    const m = e?.match as { op?: string; left?: Json; right?: unknown } | undefined;
    if (!m || m.op !== "==" || !m.left) {
      extras.push(JSON.stringify(e));
      continue;
    }
    const meta = m.left.meta as { key?: string } | undefined;
    const payload = m.left.payload as { protocol?: string; field?: string } | undefined;
    const right = m.right;
    if (meta?.key === "nfproto" && (right === "ipv4" || right === "ipv6")) {
      setFamily(right, "meta nfproto");
    } else if (meta?.key === "l4proto" && L4[String(right)]) {
      setProtocol(L4[String(right)], "meta l4proto");
      // nft drops `meta nfproto` when the ICMP protocol already implies it.
      if (L4[String(right)] === "icmp") setFamily("ipv4", "icmp");
      if (L4[String(right)] === "icmpv6") setFamily("ipv6", "icmpv6");
    } else if (
      (meta?.key === "iifname" || meta?.key === "oifname") &&
      typeof right === "string" &&
      /^[A-Za-z0-9_.-]{1,15}\*?$/.test(right)
    ) {
      spec[meta.key === "iifname" ? "inInterface" : "outInterface"] = right.endsWith("*") ? `${right.slice(0, -1)}+` : right;
    } else if (
      payload &&
      (payload.protocol === "ip" || payload.protocol === "ip6") &&
      (payload.field === "saddr" || payload.field === "daddr")
    ) {
      setFamily(payload.protocol === "ip" ? "ipv4" : "ipv6", `${payload.protocol} ${payload.field}`);
      const text = typeof right === "string" ? right : prefixText(right);
      const key = payload.field === "saddr" ? "source" : "destination";
      try {
        if (text === undefined) throw new Error();
        const c = canonicalCidr(text);
        if (c !== undefined) spec[key] = c;
      } catch {
        extras.push(`${key} ${JSON.stringify(right)}`);
      }
    } else if (
      payload &&
      (payload.protocol === "tcp" || payload.protocol === "udp" || payload.protocol === "sctp") &&
      (payload.field === "sport" || payload.field === "dport")
    ) {
      setProtocol(payload.protocol, `${payload.protocol} ${payload.field}`);
      const text = typeof right === "number" ? String(right) : rangeText(right);
      const p = text === undefined ? undefined : parsePort(text);
      if (p?.ok) spec[payload.field === "sport" ? "sourcePort" : "destinationPort"] = p.value;
      else extras.push(`${payload.protocol} ${payload.field} ${JSON.stringify(right)}`);
    } else {
      extras.push(JSON.stringify(e));
    }
  }
  if (helperObject !== undefined) {
    const h = parseHelperObjectName(helperObject);
    if (h && (protocol === undefined || protocol === h.protocol)) spec.helper = h.helper;
    else extras.push(`ct helper set ${JSON.stringify(helperObject)}`);
  }
  // A rule in the other kind's chain runs at the wrong priority: NOTRACK after conntrack has
  // tracked, a helper before there is a connection to attach it to.
  if (chain && rule.chain.startsWith("helper_") !== (helperObject !== undefined)) extras.push(`in chain ${rule.chain}`);
  if (!notrack && helperObject === undefined) extras.push("no notrack statement");
  if (!family) extras.push("matches both families (no meta nfproto)");
  return { spec: { ...spec, family: family ?? "ipv4", protocol: protocol ?? "all" } as RuleSpec, notrack, counter, extras };
}

function prefixText(right: unknown): string | undefined {
  const p = (right as { prefix?: { addr?: unknown; len?: unknown } } | undefined)?.prefix;
  return p && typeof p.addr === "string" && typeof p.len === "number" ? `${p.addr}/${p.len}` : undefined;
}

function rangeText(right: unknown): string | undefined {
  const r = (right as { range?: unknown[] } | undefined)?.range;
  return Array.isArray(r) && r.length === 2 && r.every((x) => typeof x === "number") ? `${r[0]}:${r[1]}` : undefined;
}

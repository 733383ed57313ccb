import { NFT_TABLE, RULE_TAG_PREFIX } from "../common/markers";
import { nftItems, nftObject, nftStatements, type NftItem } from "../common/nft-json";
import { parseKeyValues, parseSections } from "../transport/sections";

/** Counters `conntrack -S` prints per CPU, summed over CPUs (the procfs file's names are mapped to these). */
export const STAT_NAMES = [
  "found",
  "invalid",
  "insert",
  "insert_failed",
  "drop",
  "early_drop",
  "error",
  "search_restart",
  "clash_resolve",
  "chaintoolong",
] as const;
/** A counter name. */
export type StatName = (typeof STAT_NAMES)[number];
/** Counters that only newer kernels have: their absence is reported, not shown as 0. */
export const NEWER_STATS: readonly StatName[] = ["clash_resolve", "chaintoolong"];

/** Procfs column names that differ from `conntrack -S`'s. */
const PROCFS_NAMES: Record<string, StatName> = { icmp_error: "error", clashres: "clash_resolve", chainlength: "chaintoolong" };

/** Packet counters of one of this package's NOTRACK rules. */
export interface NotrackCounter {
  /** The rule's tag (its comment, starting with `pulumi-conntrack:`). */
  tag: string;
  /** `iptables-nft`, `iptables-legacy` or `nftables`. */
  backend: "iptables-nft" | "iptables-legacy" | "nftables";
  /** The rule's family; `inet` for an nft rule that matches no `meta nfproto` (both families). */
  family: "ipv4" | "ipv6" | "inet";
  chain: string;
  /**
   * Packets and bytes; null where the rule has no counter (nftables rules written by releases
   * before counters, until their next update).
   */
  packets: number | null;
  bytes: number | null;
}

/** Where the conntrack statistics came from. */
export type StatsSource = "conntrack -S" | "/proc/net/stat/nf_conntrack" | "none";

/** One host's status, as parsed from the status script's output. */
export interface HostStatus {
  kernelRelease: string;
  /** `nf_conntrack_count` (of the session's network namespace). */
  count: number | null;
  /** `nf_conntrack_max`. */
  max: number | null;
  /** Hash buckets. */
  buckets: number | null;
  /** count / max (0..1), null when either is unknown. */
  usage: number | null;
  source: StatsSource;
  /** Counters summed over CPUs; a counter the source lacks is absent. */
  stats: Partial<Record<StatName, number>>;
  /** CPUs the counters were summed over. */
  cpus: number;
  /** Helper modules loaded, with their reference count (null: built in, no count). */
  helperModules: Array<{ name: string; refcnt: number | null }>;
  /** Explicit helper assignments found in the rules (`CT --helper x`, nft `ct helper` objects). */
  helperRules: string[];
  notrack: NotrackCounter[];
  /** What could not be read, said plainly. */
  missing: string[];
}

/** Sums per-CPU `conntrack -S` lines (`cpu=0 found=0 invalid=3 ...`). Pure. */
export function parseConntrackS(text: string): { cpus: number; stats: Partial<Record<StatName, number>> } {
  const stats: Partial<Record<StatName, number>> = {};
  let cpus = 0;
  for (const line of text.split("\n")) {
    if (!/^cpu=\d+/.test(line.trim())) continue;
    cpus++;
    for (const m of line.matchAll(/(\w+)=(\d+)/g)) {
      const k = m[1] as StatName;
      if (!(STAT_NAMES as readonly string[]).includes(k)) continue;
      stats[k] = (stats[k] ?? 0) + Number(m[2]);
    }
  }
  return { cpus, stats };
}

/**
 * Sums `/proc/net/stat/nf_conntrack`: a header naming the columns (which differ between kernels),
 * then one line of hex numbers per CPU. The `entries` column is the global count repeated on every
 * line and is never summed. Pure.
 */
export function parseProcfsStat(text: string): { cpus: number; stats: Partial<Record<StatName, number>> } {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const stats: Partial<Record<StatName, number>> = {};
  if (lines.length === 0) return { cpus: 0, stats };
  const header = lines[0].trim().split(/\s+/);
  let cpus = 0;
  for (const line of lines.slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (!cols.every((c) => /^[0-9a-fA-F]+$/.test(c))) continue;
    cpus++;
    header.forEach((name, i) => {
      const k = (PROCFS_NAMES[name] ?? name) as StatName;
      if (name === "entries" || !(STAT_NAMES as readonly string[]).includes(k) || cols[i] === undefined) return;
      stats[k] = (stats[k] ?? 0) + parseInt(cols[i], 16);
    });
  }
  return { cpus, stats };
}

/** NOTRACK counters of this package's rules in `iptables-save -c` lines (`[pkts:bytes] -A CHAIN ...`). Pure. */
export function parseIptablesCounters(
  text: string,
  backend: "iptables-nft" | "iptables-legacy",
  family: "ipv4" | "ipv6",
): { counters: NotrackCounter[]; helpers: string[] } {
  const counters: NotrackCounter[] = [];
  const helpers: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\[(\d+):(\d+)\]\s+-A\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const rest = m[4];
    const h = /-j CT(?:\s+\S+)*?\s+--helper\s+"?([^\s"]+)"?/.exec(rest);
    if (h) helpers.push(h[1]);
    const tag = commentOf(rest);
    if (!tag || !tag.startsWith(RULE_TAG_PREFIX)) continue;
    if (!/-j CT\s+--notrack|-j NOTRACK/.test(rest)) continue;
    counters.push({ tag, backend, family, chain: m[3], packets: Number(m[1]), bytes: Number(m[2]) });
  }
  return { counters, helpers };
}

function commentOf(rest: string): string | undefined {
  const q = /--comment\s+"((?:[^"\\]|\\.)*)"/.exec(rest);
  if (q) return q[1].replace(/\\(.)/g, "$1");
  const plain = /--comment\s+(\S+)/.exec(rest);
  return plain?.[1];
}

/**
 * NOTRACK counters in `nft -j list table inet pulumi_conntrack`, found by the rule's tag (its
 * comment), never by position; rules without a `counter` statement report null. `unreadable` when
 * the listing is not JSON. Pure.
 */
export function parseNftCounters(json: string): { counters: NotrackCounter[]; helpers: string[]; unreadable?: true } {
  const counters: NotrackCounter[] = [];
  const helpers: string[] = [];
  let items: NftItem[];
  try {
    items = nftItems(json);
  } catch {
    return { counters, helpers, unreadable: true };
  }
  for (const item of items) {
    const ctHelper = nftObject(item, "ct helper");
    if (ctHelper) helpers.push([ctHelper.type, ctHelper.name].find((v) => typeof v === "string") ?? "?");
    const r = nftObject(item, "rule");
    if (!r || typeof r.comment !== "string" || !r.comment.startsWith(RULE_TAG_PREFIX)) continue;
    const expr = nftStatements(r);
    if (!expr.some((e) => "notrack" in e)) continue;
    // The anonymous counter (`{"counter": {"packets": N, "bytes": M}}`), not a named one.
    const c = expr.map((e) => nftObject(e, "counter")).find((v) => v !== undefined);
    counters.push({
      tag: r.comment,
      backend: "nftables",
      family: nfprotoOf(expr),
      chain: String(r.chain),
      packets: typeof c?.packets === "number" ? c.packets : null,
      bytes: typeof c?.bytes === "number" ? c.bytes : null,
    });
  }
  return { counters, helpers };
}

/** The family an nft rule matches with `meta nfproto`, or `inet` (both) without that match. */
function nfprotoOf(expr: Array<Record<string, unknown>>): NotrackCounter["family"] {
  for (const e of expr) {
    const m = e.match as { op?: string; left?: { meta?: { key?: string } }; right?: unknown } | undefined;
    if (m?.op === "==" && m.left?.meta?.key === "nfproto" && (m.right === "ipv4" || m.right === "ipv6")) return m.right;
  }
  return "inet";
}

const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s.trim()) ? Number(s.trim()) : null);

/** Parses the status script's output into a {@link HostStatus}. Pure, so it is tested on fixtures. */
export function parseStatus(stdout: string): HostStatus {
  const s = parseSections(stdout);
  const t = parseKeyValues(s.get("table") ?? "");
  const missing: string[] = [];
  const count = num(t.get("count"));
  const max = num(t.get("max"));
  if (max === null) missing.push("net.netfilter.nf_conntrack_max is absent (nf_conntrack not loaded)");

  let source: StatsSource = "none";
  let summed: { cpus: number; stats: Partial<Record<StatName, number>> } = { cpus: 0, stats: {} };
  const ct = s.get("ctstats") ?? "";
  const ctRc = num(parseKeyValues(ct).get("rc") ?? undefined);
  const fromCt = parseConntrackS(ct);
  const procfsText = s.get("procfs") ?? "";
  if (t.get("conntrack_tool") && ctRc === 0 && fromCt.cpus > 0) {
    source = "conntrack -S";
    summed = fromCt;
  } else {
    if (!t.get("conntrack_tool")) missing.push("no conntrack tool (conntrack-tools) on the host");
    else missing.push(`conntrack -S failed (exit ${ctRc ?? "?"}: needs root and nf_conntrack_netlink)`);
    const fromProc = parseProcfsStat(procfsText);
    if (fromProc.cpus > 0) {
      source = "/proc/net/stat/nf_conntrack";
      summed = fromProc;
    } else {
      missing.push("no /proc/net/stat/nf_conntrack (kernels built without NF_CONNTRACK_PROCFS, the default since 2022)");
    }
  }
  if (source !== "none") {
    const lacking = NEWER_STATS.filter((k) => summed.stats[k] === undefined);
    if (lacking.length) missing.push(`${lacking.join(", ")} not reported by this kernel`);
  } else missing.push("no per-CPU counters (found, drop, early_drop ...)");

  const helperModules: HostStatus["helperModules"] = [];
  for (const [name, v] of parseKeyValues(s.get("helpers") ?? "")) helperModules.push({ name, refcnt: num(v) });

  const notrack: NotrackCounter[] = [];
  const helperRules: string[] = [];
  let anyIpt = false;
  for (const [name, text] of s) {
    const m = /^ipt\.(nft|legacy)\.(4|6)$/.exec(name);
    if (!m) continue;
    anyIpt = true;
    const rc = num(parseKeyValues(text).get("rc"));
    const backend = m[1] === "nft" ? "iptables-nft" : "iptables-legacy";
    const family = m[2] === "6" ? "ipv6" : "ipv4";
    if (rc !== 0) missing.push(`${backend} raw table (${family}) could not be read (exit ${rc ?? "?"})`);
    const r = parseIptablesCounters(text, backend, family);
    notrack.push(...r.counters);
    helperRules.push(...r.helpers);
  }
  if (!anyIpt) missing.push("no iptables raw table to read");
  const nftRc = s.has("nft.rc") ? num(parseKeyValues(s.get("nft.rc") ?? "").get("rc")) : 0;
  const nft = parseNftCounters(nftRc === 0 ? (s.get("nft") ?? "") : "");
  if (nftRc !== 0) missing.push(`nftables table inet ${NFT_TABLE} could not be read (exit ${nftRc ?? "?"})`);
  else if (nft.unreadable) missing.push(`nftables table inet ${NFT_TABLE} could not be read (its listing is not JSON)`);
  notrack.push(...nft.counters);
  helperRules.push(...nft.helpers);
  const uncounted = nft.counters.filter((c) => c.packets === null).length;
  if (uncounted)
    missing.push(
      `nftables NOTRACK rules of this package carry no counter statement: no packet counts for them (${uncounted} ${uncounted === 1 ? "rule" : "rules"}, as releases before counters wrote them; the next update of each adds one)`,
    );

  return {
    kernelRelease: t.get("kernel") ?? "",
    count,
    max,
    buckets: num(t.get("buckets")),
    usage: count !== null && max ? count / max : null,
    source,
    stats: summed.stats,
    cpus: summed.cpus,
    helperModules,
    helperRules: [...new Set(helperRules)],
    notrack,
    missing,
  };
}

import { parseFacts } from "../../../provider/transport/facts";
import { afterPlan } from "../../../provider/resources/notrack-rule/batch/evolve";
import type { Observed } from "../../../provider/resources/notrack-rule/host/observed";
import { renderLiveBatch } from "../../../provider/resources/notrack-rule/batch/render";
import { plan, type Desired, type LiveBatch, type Plan } from "../../../provider/resources/notrack-rule/plan";
import { sha256 } from "../../../provider/resources/notrack-rule/observe";

/** An observation of a Debian host with iptables-nft and nothing else, to be adjusted per test. */
export function observed(over: { [K in keyof Observed]?: Partial<Observed[K]> } = {}): Observed {
  const base: Observed = {
    family: "ipv4",
    facts: parseFacts(
      "kernel=6.1.0\nuid=0\nbin.iptables=/usr/sbin/iptables\nbin.nft=/usr/sbin/nft\nnf_conntrack=builtin\nos.ID=debian\nos.VERSION_ID=12",
    ),
    modprobeRows: "",
    conntrackBlocks: [],
    iptables: {
      present: true,
      version: "iptables v1.8.9 (nf_tables)",
      current: "nft",
      variant: "nft",
      save: "",
      chainHashes: { PREROUTING: "h-pre", OUTPUT: "h-out" },
    },
    legacyTables: [],
    nft: { present: true, tables: [], tableJson: "", tableHash: "h-nft" },
    persist: { etcIptablesDir: false, sysconfigDir: false, iptablesServices: false, files: {} },
  };
  const out = { ...base } as Record<string, unknown>;
  const b = base as unknown as Record<string, object>;
  for (const [k, v] of Object.entries(over)) out[k] = typeof v === "object" && v !== null && !Array.isArray(v) ? { ...b[k], ...v } : v;
  return out as unknown as Observed;
}

/** A file as observed. */
export function file(content: string) {
  return { content, sha256: sha256(content) };
}

/** Plans each member against the state the previous ones leave, as a batch does. */
export function planAll(o: Observed, ds: Desired[]): Plan[] {
  let state = o;
  return ds.map((d) => {
    const p = plan(state, d);
    state = afterPlan(state, d, p);
    return p;
  });
}

/**
 * `nft -j -s list table inet pulumi_conntrack` (stateless, as the observation lists it: a counter
 * without its values) of IPv4 UDP destination-port rules. Rules carry a counter as this release writes them; `counter: false` is a rule as earlier releases
 * wrote it.
 */
export const nftTableJson = (rules: Array<{ chain: string; handle: number; comment?: string; port: number; counter?: boolean }>) =>
  JSON.stringify({
    nftables: [
      { table: { family: "inet", name: "pulumi_conntrack", handle: 1 } },
      ...rules.map((r) => ({
        rule: {
          family: "inet",
          table: "pulumi_conntrack",
          chain: r.chain,
          handle: r.handle,
          ...(r.comment ? { comment: r.comment } : {}),
          expr: [
            { match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv4" } },
            { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: r.port } },
            ...(r.counter === false ? [] : [{ counter: null }]),
            { notrack: null },
          ],
        },
      })),
    ],
  });

/**
 * A live batch as it is applied: its operations rendered into the tool's text (the batch is data
 * until then), with its guard and emptied chains. `undefined` when there is no live change.
 */
export function rendered(live: LiveBatch | undefined) {
  if (!live) return undefined;
  const { ops: _ops, ...rest } = live;
  return { ...rest, text: renderLiveBatch(live) };
}

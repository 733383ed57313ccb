import { parseFacts } from "../../../provider/transport/facts";
import type { Observed } from "../../../provider/resources/notrack-rule/observe";
import { sha256 } from "../../../provider/resources/notrack-rule/observe";

/** An observation of a Debian host with iptables-nft and nothing else, to be adjusted per test. */
export function observed(over: { [K in keyof Observed]?: Partial<Observed[K]> } = {}): Observed {
  const base: Observed = {
    family: "ipv4",
    facts: parseFacts("kernel=6.1.0\nuid=0\nbin.iptables=/usr/sbin/iptables\nbin.nft=/usr/sbin/nft\nnf_conntrack=builtin\nos.ID=debian\nos.VERSION_ID=12"),
    conntrackBlocks: [],
    iptables: { present: true, version: "iptables v1.8.9 (nf_tables)", current: "nft", variant: "nft", save: "", chainHashes: { PREROUTING: "h-pre", OUTPUT: "h-out" } },
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

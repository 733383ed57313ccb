/**
 * The host as it will be once a plan is applied, for planning the next member of a batch against.
 * Only what later members' plans read is carried forward: the raw table's lines (for the positions
 * of in-place updates), this package's nft table (for when its last rule goes) and the saved
 * files. The hashes stay those of the observation, since the apply script checks the host against
 * what was read, not against what the batch will make of it. Pure.
 */
import { NFT_TABLE } from "../../common/markers";
import { iptablesLineHasTag, renderIptablesRule } from "./iptables-rule";
import { nftChainName } from "./nft-rule";
import { sha256, type Observed } from "./observe";
import type { Desired, FileWrite, Plan } from "./plan";
import { tagMatches } from "./spec";

/** `o` with plan `p` (computed from `o` for `d`) carried out. */
export function afterPlan(o: Observed, d: Desired, p: Plan): Observed {
  let next = o;
  if (p.live) next = p.live.backend === "nftables" ? withNftPlan(next, d, p.live.text) : withIptablesPlan(next, d);
  if (p.file) next = withFile(next, p.file);
  return next;
}

/** The raw table with `d.tag`'s lines taken out and its rule put where the plan puts it. */
function withIptablesPlan(o: Observed, d: Desired): Observed {
  const lines = o.iptables.save === "" ? [] : o.iptables.save.split("\n");
  const out: string[] = [];
  let table = "";
  let firstRemoved: { at: number; chain: string } | undefined;
  let rawCommit = -1;
  for (const line of lines) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    else if (line === "COMMIT") {
      if (table === "raw" && rawCommit < 0) rawCommit = out.length;
      table = "";
    } else if (table === "raw" && line.startsWith("-A ") && iptablesLineHasTag(line, d.tag, d.adopt)) {
      firstRemoved ??= { at: out.length, chain: line.split(" ")[1] ?? "" };
      continue;
    }
    out.push(line);
  }
  if (d.spec) {
    const want = renderIptablesRule(d.spec, d.tag);
    // Same placement as the plan: in place of the first old rule when the chain is unchanged
    // (`-I chain index`), else last (`-A`); only the order within a chain matters to indexes.
    if (firstRemoved && firstRemoved.chain === d.spec.chain) out.splice(firstRemoved.at, 0, want);
    else if (rawCommit >= 0) out.splice(rawCommit, 0, want);
    else {
      // iptables-save output ends with a newline: keep the new table before that empty last line.
      const end = out.length > 0 && out[out.length - 1] === "" ? out.length - 1 : out.length;
      out.splice(end, 0, "*raw", want, "COMMIT");
    }
  }
  return { ...o, iptables: { ...o.iptables, save: out.join("\n") } };
}

type NftItem = Record<string, unknown> & { rule?: Record<string, unknown> & { comment?: string }; table?: unknown };

/** This package's nft table with `d.tag`'s rules taken out and a stand-in for its new rule. */
function withNftPlan(o: Observed, d: Desired, text: string): Observed {
  if (text.split("\n").some((l) => l.startsWith("delete table "))) return { ...o, nft: { ...o.nft, tableJson: "" } };
  const json = o.nft.tableJson.trim();
  const items = (json === "" ? [] : ((JSON.parse(json) as { nftables?: NftItem[] }).nftables ?? [])).filter(
    (i) => !(i.rule?.comment !== undefined && tagMatches(i.rule.comment, d.tag, d.adopt)),
  );
  if (d.spec) {
    if (!items.some((i) => i.table !== undefined)) items.push({ table: { family: "inet", name: NFT_TABLE } });
    // Later members only count rules and look up their own tags, so the rule needs no match here;
    // handle 0 is never a real one.
    items.push({ rule: { family: "inet", table: NFT_TABLE, chain: nftChainName(d.spec.chain), handle: 0, comment: d.tag, expr: [] } });
  }
  return { ...o, nft: { ...o.nft, tableJson: JSON.stringify({ nftables: items }) } };
}

function withFile(o: Observed, f: FileWrite): Observed {
  const files = { ...o.persist.files };
  if (f.content === null) delete files[f.path];
  else files[f.path] = { content: f.content, sha256: sha256(f.content) };
  return { ...o, persist: { ...o.persist, files } };
}

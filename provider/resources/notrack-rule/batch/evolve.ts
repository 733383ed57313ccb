/**
 * The host as it will be once a plan is applied, for planning the next member of a batch against.
 * Only what later members' plans read is carried forward: the raw table's lines (for the positions
 * of in-place updates), this package's nft table (for when its last rule goes) and the saved
 * files. The hashes stay those of the observation, since the apply script checks the host against
 * what was read, not against what the batch will make of it. Pure.
 */
import { NFT_TABLE } from "../../../common/markers";
import { nftItems, nftObject, type NftItem } from "../../../common/nft-json";
import { iptablesLineHasTag, renderIptablesRule } from "../syntax/iptables-rule";
import { helperObjectName } from "../syntax/helpers";
import { nftChainOf } from "../syntax/nft-rule";
import { tagMatches } from "../syntax/tag";
import { joinSavedLines, parseSavedRuleset, placeRawRule } from "../syntax/saved-ruleset";
import { sha256 } from "../observe";
import { type Observed } from "../host/observed";
import type { Desired, FileWrite, LiveBatch, Plan } from "../plan";

/** `o` with plan `p` (computed from `o` for `d`) carried out. */
export function afterPlan(o: Observed, d: Desired, p: Plan): Observed {
  let next = o;
  if (p.live) next = p.live.backend === "nftables" ? withNftPlan(next, d, p.live) : withIptablesPlan(next, d);
  if (p.file) next = withFile(next, p.file);
  return next;
}

/** The raw table with `d.tag`'s lines taken out and its rule put where the plan puts it. */
function withIptablesPlan(o: Observed, d: Desired): Observed {
  const saved = parseSavedRuleset(o.iptables.save);
  const want = d.spec ? { chain: d.spec.chain, line: renderIptablesRule(d.spec, d.tag) } : undefined;
  // The same placement as the plan's live batch and the saved file.
  const { lines, placed } = placeRawRule(saved, (line) => iptablesLineHasTag(line, d.tag, d.adopt), want);
  if (want && !placed) lines.push("*raw", want.line, "COMMIT");
  return { ...o, iptables: { ...o.iptables, save: joinSavedLines(lines, saved.trailingNewline) } };
}

/** This package's nft table with `d.tag`'s rules taken out and a stand-in for its new rule. */
function withNftPlan(o: Observed, d: Desired, live: LiveBatch): Observed {
  if (live.ops.some((op) => op.op === "delete-table")) return { ...o, nft: { ...o.nft, tableJson: "" } };
  const deleted = new Set(live.ops.flatMap((op) => (op.op === "delete-object" ? [op.name] : [])));
  const helperName = (i: NftItem) => nftObject(i, "ct helper")?.name;
  const items = nftItems(o.nft.tableJson).filter((i) => {
    const comment = nftObject(i, "rule")?.comment;
    const helper = helperName(i);
    return !(typeof comment === "string" && tagMatches(comment, d.tag, d.adopt)) && !(typeof helper === "string" && deleted.has(helper));
  });
  if (d.spec) {
    if (!items.some((i) => i.table !== undefined)) items.push({ table: { family: "inet", name: NFT_TABLE } });
    // Later members only count rules, look up their own tags and the helper objects rules set, so
    // the rule needs no match here; handle 0 is never a real one.
    const object = d.spec.helper === undefined ? undefined : helperObjectName(d.spec.helper, d.spec.protocol);
    if (object && !items.some((i) => helperName(i) === object))
      items.push({ "ct helper": { family: "inet", table: NFT_TABLE, name: object } });
    const expr = object ? [{ "ct helper": object }] : [];
    items.push({ rule: { family: "inet", table: NFT_TABLE, chain: nftChainOf(d.spec), handle: 0, comment: d.tag, expr } });
  }
  return { ...o, nft: { ...o.nft, tableJson: JSON.stringify({ nftables: items }) } };
}

function withFile(o: Observed, f: FileWrite): Observed {
  const files = { ...o.persist.files };
  if (f.content === null) delete files[f.path];
  else files[f.path] = { content: f.content, sha256: sha256(f.content) };
  return { ...o, persist: { ...o.persist, files } };
}

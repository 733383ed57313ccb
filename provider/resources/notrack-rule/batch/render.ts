/**
 * A live batch's text: its operations rendered into iptables-restore --noflush input (one `*raw`
 * table) or nft -f input. Called once, by the apply, right before the batch goes to the host. Pure.
 */
import { NFT_TABLE } from "../../../common/markers";
import type { FoundRule, LiveBatch, LiveOp } from "../plan";
import { deleteCommandFor, insertCommandFor, renderIptablesRule } from "../syntax/iptables-rule";
import { NFT_CHAIN_DECLARATIONS, nftChainName, renderNftRule } from "../syntax/nft-rule";

/**
 * The text of a live batch. An in-place update deletes the old rules and inserts the
 * new one at the first one's position (`-I CHAIN N`; iptables), or swaps it in the same transaction
 * (`replace rule`; nft): never a moment without a rule.
 */
export function renderLiveBatch(live: LiveBatch): string {
  if (live.backend !== "nftables") return ["*raw", ...live.ops.flatMap(iptablesLines), "COMMIT", ""].join("\n");
  const t = `inet ${NFT_TABLE}`;
  const ensure = [
    `add table ${t}`,
    `add chain ${t} prerouting { ${NFT_CHAIN_DECLARATIONS.prerouting} }`,
    `add chain ${t} output { ${NFT_CHAIN_DECLARATIONS.output} }`,
  ];
  // The table and chain declarations are idempotent: once, before the first rule that needs them,
  // is enough, unless the batch deletes the table.
  const deletesTable = live.ops.some((op) => op.op === "delete-table");
  let declared = false;
  const declare = () => {
    if (declared && !deletesTable) return [];
    declared = true;
    return ensure;
  };
  const del = (r: FoundRule) => `delete rule ${t} ${r.chain} handle ${r.handle}`;
  const lines = live.ops.flatMap((op): string[] => {
    switch (op.op) {
      case "add":
        return [...declare(), `add rule ${t} ${nftChainName(op.chain)} ${renderNftRule(op.rule.spec, op.rule.tag)}`];
      case "replace": {
        const chain = nftChainName(op.chain);
        const want = renderNftRule(op.rule.spec, op.rule.tag);
        const [first, ...rest] = op.old;
        return first.chain === chain
          ? [`replace rule ${t} ${chain} handle ${first.handle} ${want}`, ...rest.map(del)]
          : [...op.old.map(del), ...declare(), `add rule ${t} ${chain} ${want}`];
      }
      case "delete":
        return [del(op.old)];
      case "delete-table":
        return [`delete table ${t}`];
    }
  });
  return [...lines, ""].join("\n");
}

function iptablesLines(op: LiveOp): string[] {
  switch (op.op) {
    case "add":
      return [renderIptablesRule(op.rule.spec, op.rule.tag)];
    case "replace": {
      const want = renderIptablesRule(op.rule.spec, op.rule.tag);
      const first = op.old[0];
      // Deleting first and inserting at the first old rule's index puts the new rule exactly where it was.
      return [...op.old.map((r) => deleteCommandFor(r.text)), first.chain === op.chain ? insertCommandFor(want, first.index ?? 1) : want];
    }
    case "delete":
      return [deleteCommandFor(op.old.text)];
    case "delete-table":
      return [];
  }
}

/**
 * A live batch's text: its operations rendered into iptables-restore --noflush input (one `*raw`
 * table) or nft -f input. Called once, by the apply, right before the batch goes to the host. Pure.
 */
import { NFT_TABLE } from "../../../common/markers";
import type { FoundRule, LiveBatch, LiveOp } from "../plan";
import { deleteCommandFor, insertCommandFor, renderIptablesRule } from "../syntax/iptables-rule";
import { helperObjectDeclaration, helperObjectName } from "../syntax/helpers";
import { NFT_CHAIN_DECLARATIONS, nftChainOf, renderNftRule } from "../syntax/nft-rule";
import { type RuleSpec } from "../syntax/rule";

/**
 * The text of a live batch. An in-place update deletes the old rules and inserts the
 * new one at the first one's position (`-I CHAIN N`; iptables), or swaps it in the same transaction
 * (`replace rule`; nft): never a moment without a rule.
 */
export function renderLiveBatch(live: LiveBatch): string {
  if (live.backend !== "nftables") return ["*raw", ...live.ops.flatMap(iptablesLines), "COMMIT", ""].join("\n");
  const t = `inet ${NFT_TABLE}`;
  // What a rule needs declared: the table and the NOTRACK chains; for a helper rule also the helper
  // chains and its `ct helper` object.
  const ensure = (spec: RuleSpec) => [
    `add table ${t}`,
    ...(spec.helper === undefined
      ? [`add chain ${t} prerouting { ${NFT_CHAIN_DECLARATIONS.prerouting} }`, `add chain ${t} output { ${NFT_CHAIN_DECLARATIONS.output} }`]
      : [
          `add chain ${t} helper_prerouting { ${NFT_CHAIN_DECLARATIONS.helper_prerouting} }`,
          `add chain ${t} helper_output { ${NFT_CHAIN_DECLARATIONS.helper_output} }`,
          `add ${helperObjectDeclaration(helperObjectName(spec.helper, spec.protocol)).replace(/^ct helper /, `ct helper ${t} `)}`,
        ]),
  ];
  // The declarations are idempotent: once, before the first rule that needs them, is enough, unless
  // the batch deletes the table or an object (then again after it).
  const deletesTable = live.ops.some((op) => op.op === "delete-table");
  const declared = new Set<string>();
  const declare = (spec: RuleSpec) => {
    const lines = ensure(spec).filter((l) => deletesTable || !declared.has(l));
    for (const l of lines) declared.add(l);
    return lines;
  };
  const del = (r: FoundRule) => `delete rule ${t} ${r.chain} handle ${r.handle}`;
  const lines = live.ops.flatMap((op): string[] => {
    switch (op.op) {
      case "add":
        return [...declare(op.rule.spec), `add rule ${t} ${nftChainOf(op.rule.spec)} ${renderNftRule(op.rule.spec, op.rule.tag)}`];
      case "replace": {
        const chain = nftChainOf(op.rule.spec);
        const want = renderNftRule(op.rule.spec, op.rule.tag);
        const [first, ...rest] = op.old;
        // A helper rule's object is declared before the rule that sets it, in place or not.
        const objects = op.rule.spec.helper === undefined ? [] : declare(op.rule.spec);
        return first.chain === chain
          ? [...objects, `replace rule ${t} ${chain} handle ${first.handle} ${want}`, ...rest.map(del)]
          : [...op.old.map(del), ...objects, ...declare(op.rule.spec), `add rule ${t} ${chain} ${want}`];
      }
      case "delete":
        return [del(op.old)];
      case "delete-table":
        return [`delete table ${t}`];
      case "delete-object":
        declared.clear();
        return [`delete ct helper ${t} ${op.name}`];
      case "delete-chain":
        declared.clear();
        return [`delete chain ${t} ${op.chain}`];
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
    case "delete-object":
    case "delete-chain":
      return [];
  }
}

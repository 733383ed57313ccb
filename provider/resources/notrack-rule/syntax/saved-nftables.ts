/**
 * Editing the nftables boot configuration (`/etc/nftables.conf`): this package's table lives in one
 * delimited block at the end of the file, after Debian's `flush ruleset`; each resource adds or
 * removes only its own tagged line in it, and the block goes away with the last rule. Everything
 * outside the block stays as it was, byte for byte.
 */
import { NFT_TABLE } from "../../../common/markers";
import { helperObjectDeclaration, parseHelperObjectName } from "./helpers";
import { NFT_CHAIN_DECLARATIONS, type NftChain } from "./nft-rule";
import { tagMatches } from "./tag";

/** First line of the managed block. */
export const NFT_BLOCK_BEGIN = `# BEGIN pulumi-conntrack: table inet ${NFT_TABLE}, edited by NotrackRule resources (changes made here by hand are reverted)`;
/** Last line of the managed block. */
export const NFT_BLOCK_END = "# END pulumi-conntrack";

/** What one resource wants in the block: its rule text in a chain, or nothing. */
export interface NftSavedRule {
  chain: NftChain;
  /** Statement text, comment included. */
  text: string;
}

type Chains = Record<NftChain, string[]>;

/** The chains in the order the block holds them. */
const CHAIN_ORDER: readonly NftChain[] = ["prerouting", "output", "helper_prerouting", "helper_output"];

function noChains(): Chains {
  return { prerouting: [], output: [], helper_prerouting: [], helper_output: [] };
}

interface Block {
  /** Index of the BEGIN line and of the END line in the file's lines. */
  begin: number;
  end: number;
  chains: Chains;
}

function findBlock(lines: string[]): Block | undefined {
  const begin = lines.findIndex((l) => l.startsWith("# BEGIN pulumi-conntrack"));
  if (begin < 0) return undefined;
  let end = lines.findIndex((l, i) => i > begin && l.trim() === NFT_BLOCK_END);
  if (end < 0) end = lines.length - 1;
  const chains: Chains = noChains();
  let current: keyof Chains | undefined;
  for (const raw of lines.slice(begin + 1, end)) {
    const line = raw.trim();
    const m = /^chain (prerouting|output|helper_prerouting|helper_output) \{/.exec(line);
    if (m) {
      current = m[1] as keyof Chains;
      continue;
    }
    if (line === "}" || line === "" || line.startsWith("#") || !current) {
      if (line === "}") current = undefined;
      continue;
    }
    if (/^(type|policy) /.test(line)) continue;
    chains[current].push(line);
  }
  return { begin, end, chains };
}

/** Whether a statement line carries `tag` as its comment. */
export function nftLineHasTag(line: string, tag: string, adopt?: string): boolean {
  if (line.includes(`comment "${tag}"`)) return true;
  if (!adopt) return false;
  const m = /comment "([^"]*)"/.exec(line);
  return m !== null && tagMatches(m[1], tag, adopt);
}

/** The rule lines in the managed block that carry `tag`, with their chains. */
export function taggedNftLines(content: string | undefined, tag: string): NftSavedRule[] {
  if (content === undefined) return [];
  const b = findBlock(content.split("\n"));
  if (!b) return [];
  const out: NftSavedRule[] = [];
  for (const chain of CHAIN_ORDER) for (const text of b.chains[chain]) if (nftLineHasTag(text, tag)) out.push({ chain, text });
  return out;
}

/** The `ct helper` objects the rules set (`ct helper set "ftp-tcp"`), each once, sorted. */
function helperObjectsOf(chains: Chains): string[] {
  const names = new Set<string>();
  for (const r of [...chains.helper_prerouting, ...chains.helper_output]) {
    const m = /\bct helper set "([^"]+)"/.exec(r);
    if (m && parseHelperObjectName(m[1])) names.add(m[1]);
  }
  return [...names].sort();
}

/**
 * The managed block for the given rules. The helper chains, and the `ct helper` objects their rules
 * set, are written only when they hold a rule: a block of NOTRACK rules alone is as it always was.
 */
export function renderNftBlock(chains: Chains): string[] {
  const chain = (name: keyof Chains) => [
    `\tchain ${name} {`,
    `\t\t${NFT_CHAIN_DECLARATIONS[name]}`,
    ...chains[name].map((r) => `\t\t${r}`),
    "\t}",
  ];
  return [
    NFT_BLOCK_BEGIN,
    // Declaring and deleting the table first makes the block load the same whether or not the
    // file starts with `flush ruleset`, and however often it is loaded.
    `table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    ...helperObjectsOf(chains).map((name) => `\t${helperObjectDeclaration(name)}`),
    ...chain("prerouting"),
    ...chain("output"),
    ...(["helper_prerouting", "helper_output"] as const).flatMap((c) => (chains[c].length ? chain(c) : [])),
    "}",
    NFT_BLOCK_END,
  ];
}

/**
 * The file with `tag`'s line in the managed block replaced by `want` (or removed). A replaced rule
 * keeps its place in its chain; the block is appended when missing and removed when its last rule
 * goes. `undefined` in, `undefined` out: without the file there is no nftables boot configuration
 * to add to.
 */
export function editNftablesConf(
  content: string | undefined,
  tag: string,
  want: NftSavedRule | undefined,
  adopt?: string,
): string | undefined {
  if (content === undefined) return undefined;
  const trailingNewline = content.endsWith("\n");
  const lines = content === "" ? [] : content.split("\n");
  if (trailingNewline) lines.pop();
  const block = findBlock(lines);
  const chains: Chains = block ? block.chains : noChains();
  let placed = false;
  for (const name of CHAIN_ORDER) {
    const next: string[] = [];
    for (const r of chains[name]) {
      if (!nftLineHasTag(r, tag, adopt)) next.push(r);
      else if (want && want.chain === name && !placed) {
        next.push(want.text);
        placed = true;
      }
    }
    chains[name] = next;
  }
  if (want && !placed) chains[want.chain].push(want.text);
  const empty = CHAIN_ORDER.every((c) => chains[c].length === 0);
  const rendered = empty ? [] : renderNftBlock(chains);
  let out: string[];
  if (block) out = [...lines.slice(0, block.begin), ...rendered, ...lines.slice(block.end + 1)];
  else if (empty) return content;
  else out = [...lines, ...rendered];
  if (out.length === 0) return "";
  // A file without a final newline keeps none: the newline in front of the block is the block's,
  // so removing the block gives back the same bytes (nft reads a last line without one).
  return out.join("\n") + (trailingNewline || lines.length === 0 ? "\n" : "");
}

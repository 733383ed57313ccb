/**
 * Reading `nft -j` output: one place for its shape, so that every reader of a listing (the
 * NotrackRule observation, the plan's stand-in table, the status counters) takes the same items and
 * none trusts a cast. `nft -j` prints `{"nftables": [ {metainfo: ...}, {table: ...}, {chain: ...},
 * {rule: ...}, {"ct helper": ...} ]}`: an array of items, each an object with one key naming what it
 * describes.
 */

/** One item of an `nft -j` listing: an object whose one key names what it describes (`table`, `rule`...). */
export type NftItem = Record<string, unknown>;

/**
 * The items of an `nft -j` listing, in its order. Empty (or blank) text is no items: the observe
 * scripts print nothing for a table that is absent. Throws a `SyntaxError` for text that is not JSON,
 * so that each caller decides what an unreadable listing means (a refusal, "unreadable", none). A
 * document without an `nftables` array, and entries that are not objects, are no items.
 */
export function nftItems(json: string): NftItem[] {
  if (json.trim() === "") return [];
  const doc: unknown = JSON.parse(json);
  const items = isObject(doc) ? doc.nftables : undefined;
  return Array.isArray(items) ? items.filter(isObject) : [];
}

/** The object an item describes under `key` (`nftObject(item, "rule")`), or undefined. */
export function nftObject(item: NftItem, key: string): Record<string, unknown> | undefined {
  const v = item[key];
  return isObject(v) ? v : undefined;
}

/** The statements of a listed rule (its `expr`) that are objects, in order; none when it has no `expr`. */
export function nftStatements(rule: Record<string, unknown>): NftItem[] {
  return Array.isArray(rule.expr) ? rule.expr.filter(isObject) : [];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

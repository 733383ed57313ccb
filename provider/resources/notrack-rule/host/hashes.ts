/**
 * The hashes an apply compares under the host lock to know that the live ruleset is still the one
 * its plan was made from (`ctk_chain_hash`, `ctk_out_sum ctk_nft_table` in the apply script).
 *
 * The observe script prints them only for text that is not plain printable ASCII (`ctk_ascii`):
 * for plain text the provider computes the same digest from the observed text, and each host is
 * spared some eight processes per observation. Text with other bytes is hashed on the host, because
 * the provider's copy of it may no longer be the host's bytes (invalid UTF-8 decodes to U+FFFD).
 */
import { createHash } from "node:crypto";

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * What `printf '%s\n' "$save" | ctk_chain_hash CHAIN` prints for the raw table's saved text `save`
 * (as the observe script printed it, without its final newline): sha256 of the chain's `-A` lines,
 * each with its newline. Pure.
 */
export function chainHash(save: string, chain: string): string {
  const prefix = `-A ${chain} `;
  const lines = save.split("\n").filter((l) => l.startsWith(prefix));
  return sha256Hex(lines.map((l) => `${l}\n`).join(""));
}

/**
 * What the apply script's `ctk_out_sum ctk_nft_table` gives when this package's table lists as
 * `listing` (the observe script's text of it, without its final newline; empty when there is no
 * table). Pure.
 */
export function nftTableHash(listing: string): string {
  return sha256Hex(listing === "" ? "" : `${listing}\n`);
}

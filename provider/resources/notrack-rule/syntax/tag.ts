/** The comment that identifies a rule on the host (its tag): its characters, and matching it. */

/** Characters of a tag: safe unquoted in iptables-restore input, nft and shell alike. */
export const TAG_PATTERN = /^[A-Za-z0-9._:-]{1,120}$/;

/** Whether a rule comment is `tag`, or (for a create taking over) starts with `adopt`. */
export function tagMatches(comment: string, tag: string, adopt?: string): boolean {
  return comment === tag || (adopt !== undefined && adopt !== "" && comment.startsWith(adopt));
}

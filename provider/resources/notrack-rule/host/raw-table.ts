/**
 * The raw table itself, not its rules: iptables-nft creates `table ip raw` (`ip6 raw` for
 * ip6tables) and the base chain a rule goes into (PREROUTING or OUTPUT) when the rule goes in, and
 * never removes them. A delete that takes out the last rule of a chain would leave that empty chain,
 * and the last rule of the table the empty table, so the host would not be as it was before. The
 * delete therefore also removes a built-in chain it empties and then the table, but only what is
 * empty and as iptables-nft makes it: a chain declared as iptables-nft declares it with policy
 * ACCEPT and no rule; a table with nothing but such chains (no rule, no user chain, no set, no flag
 * or comment).
 *
 * Why "empty and default" and not "created by us": the rules of one host are created by many
 * resources, in parallel, in batches and over several runs; a record in one resource's state of
 * who made the table would be wrong as soon as another resource's rule outlives the one that made
 * it. An empty default raw chain does nothing to packets (it accepts everything), so the only thing
 * this can remove that we did not create is an empty chain or table someone made and left empty,
 * and only one that held one of our rules. A chain or table that holds anyone else's rule, chain or
 * set, or has another policy, is never removed.
 *
 * Legacy iptables cannot drop a table or a built-in chain: its tables are registered per network
 * namespace by the kernel modules (`iptable_raw`) and exist while the module does; there the delete
 * stays a plain `iptables-restore --noflush` batch.
 */
import type { ResolvedBackend } from "../syntax/rule";
import { parseSavedRuleset } from "../syntax/saved-ruleset";

/** The built-in chains of the raw table. */
const RAW_CHAINS = ["PREROUTING", "OUTPUT"] as const;

/**
 * The built-in chains that iptables-save output of the raw table (as observed) shows empty once
 * the `removed` `-A` lines are gone, among those that held one of them, and whose policy is ACCEPT.
 * Pure. The apply script checks the live chain and table again before removing anything (see
 * {@link RAW_TABLE_SHELL_FUNCTIONS}): this only decides what to ask for.
 */
export function chainsEmptiedBy(save: string, removed: ReadonlySet<string>): string[] {
  const policy = new Map<string, string>();
  const held = new Set<string>();
  const others = new Set<string>();
  for (const l of parseSavedRuleset(save).lines) {
    if (l.table !== "raw" || l.chain === undefined) continue;
    if (l.kind === "chain") policy.set(l.chain, l.policy ?? "");
    else (removed.has(l.text) ? held : others).add(l.chain);
  }
  // iptables-nft-save prints built-in chains that do not exist as ACCEPT: a missing one counts as such.
  return RAW_CHAINS.filter((c) => held.has(c) && !others.has(c) && (policy.get(c) ?? "ACCEPT") === "ACCEPT");
}

/** Whether a delete on `backend` can take emptied chains and the table with it (only iptables-nft's can go). */
export function canDropRawTable(backend: ResolvedBackend): boolean {
  return backend === "iptables-nft";
}

/**
 * - `ctk_raw_default FAMILY [CHAIN]` (`ip` or `ip6`; `PREROUTING` or `OUTPUT`): succeeds only when
 *   `nft list table FAMILY raw` (with CHAIN: `nft list chain FAMILY raw CHAIN`) shows it exactly as
 *   iptables-nft creates it and empty: the table line, the warning comment iptables-nft adds, the
 *   chains PREROUTING and OUTPUT declared as filter hooks at raw priority (`raw`, or `-300` from
 *   older nft) with policy accept, and braces. Any other line (a rule, a user chain, a set, a
 *   flag, a comment, another policy or hook) keeps it.
 * - `ctk_raw_drop FAMILY CHAIN...`: removes each given chain that is empty and default, then the
 *   table when nothing but empty default chains is left. Best effort: never fails.
 */
export const RAW_TABLE_SHELL_FUNCTIONS = `ctk_raw_default() {
  if [ -n "\${2:-}" ]; then _l=$(nft list chain "$1" raw "$2" 2>/dev/null) || return 1
  else _l=$(nft list table "$1" raw 2>/dev/null) || return 1; fi
  printf '%s\\n' "$_l" | awk -v t="table $1 raw {" '
    { sub(/^[ \\t]+/, ""); sub(/[ \\t]+$/, "") }
    $0 == "" || $0 == "}" || $0 == t { next }
    /^# Warning: table [a-z0-9]+ raw is managed by iptables-nft, do not touch!$/ { next }
    $0 == "chain PREROUTING {" { c = "prerouting"; next }
    $0 == "chain OUTPUT {" { c = "output"; next }
    c != "" && $0 ~ ("^type filter hook " c " priority (raw|-300); policy accept;$") { c = ""; next }
    { bad = 1 }
    END { exit (bad || NR == 0) ? 1 : 0 }'
}
ctk_raw_drop() {
  _f=$1; shift
  for _c in "$@"; do
    if ctk_raw_default "$_f" "$_c"; then nft delete chain "$_f" raw "$_c" || echo "note: could not remove the empty chain $_c of table $_f raw" >&2; fi
  done
  if ctk_raw_default "$_f"; then nft delete table "$_f" raw || echo "note: could not remove the empty table $_f raw" >&2; fi
  return 0
}`;

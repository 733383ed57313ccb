import { NFT_TABLE, RULE_TAG_PREFIX } from "../../common/markers";
import { LEGACY_TABLE_FUNCTION } from "../../transport/legacy-tables";
import { shQuote } from "../../transport/quote";

/**
 * Modules whose absence breaks a NotrackRule, so that keeping any of them out while this package
 * manages NOTRACK rules on the host is refused:
 * - `nf_conntrack` (and `nf_conntrack_ipv4`/`_ipv6` of kernels before 4.19): what NOTRACK exempts
 *   packets from; without it the rules cannot load;
 * - `nf_defrag_ipv4`/`nf_defrag_ipv6`: `nf_conntrack` depends on them;
 * - `xt_CT` (and `xt_NOTRACK` of older kernels): the `-j CT --notrack` / `-j NOTRACK` targets;
 * - `xt_comment`: the match that carries the rule's identity tag;
 * - `iptable_raw`/`ip6table_raw`, `ip_tables`/`ip6_tables`, `x_tables`: the legacy raw table;
 * - `nf_tables`, `nft_ct` (`notrack`), `nft_compat` (xt targets under iptables-nft): the nftables side.
 */
export const NOTRACK_DEPENDENCIES: readonly string[] = [
  "ip6_tables",
  "ip6table_raw",
  "ip_tables",
  "iptable_raw",
  "nf_conntrack",
  "nf_conntrack_ipv4",
  "nf_conntrack_ipv6",
  "nf_defrag_ipv4",
  "nf_defrag_ipv6",
  "nf_tables",
  "nft_compat",
  "nft_ct",
  "x_tables",
  "xt_CT",
  "xt_NOTRACK",
  "xt_comment",
];

/** The listed modules that a managed NotrackRule needs (canonical names). */
export function notrackDependenciesIn(modules: readonly string[]): string[] {
  return modules.filter((m) => NOTRACK_DEPENDENCIES.includes(m));
}

/**
 * awk program that prints the rules of an `nft list table` listing, one per line as `nft\t<rule>`:
 * statements directly inside a `chain` block other than the chain's own `type`/`policy`/`comment`/
 * `devices` lines. Sets, maps and ct helper objects are not rules.
 */
export const NFT_RULES_AWK = `{ sub(/^[ \t]+/, ""); sub(/[ \t]+$/, "") }
$0 == "" || /^#/ { next }
/[{]$/ { depth++; kind[depth] = $1; next }
$0 == "}" { depth--; next }
kind[depth] == "chain" && $1 != "type" && $1 != "policy" && $1 != "comment" && $1 != "devices" { print "nft\t" $0 }`;

/** Extended regex matching an iptables-save line of a managed rule. */
const TAGGED_RULE_ERE = `^-A .*--comment "?${escapeEre(RULE_TAG_PREFIX)}`;

/**
 * Prints the tagged lines of an iptables-save on stdin, each after the save tool `p` and a tab: one
 * awk for what was a grep and a sed. The ERE is a regex constant of the program (an ERE given
 * through `-v` would have its backslashes taken as string escapes).
 */
const TAGGED_RULE_AWK = `/${TAGGED_RULE_ERE.replace(/\//g, "\\/")}/ { print p "\\t" $0 }`;

function escapeEre(s: string): string {
  return s.replace(/[.[\]()*+?{}|^$\\]/g, "\\$&");
}

/**
 * Shell text defining `ctk_notrack_scan`, which prints every NotrackRule of this package on the host
 * as `<source>\t<rule>` and nothing else: iptables/ip6tables raw-table rules whose comment starts
 * with {@link RULE_TAG_PREFIX} (legacy and nft backends), and the rules of the nft table
 * {@link NFT_TABLE}. Empty output means none.
 *
 * It never makes the kernel load a module: a legacy table is listed only when
 * `/proc/net/ip_tables_names` already names it (asking for a table by name loads its module), and
 * the nftables tools run only when `nf_tables` is present or the kernel has no loadable modules.
 */
export const NOTRACK_SCAN_FUNCTION = `${LEGACY_TABLE_FUNCTION}
ctk_notrack_scan() {
  for pfx in ip ip6; do
    if [ $pfx = ip ]; then names=/proc/net/ip_tables_names; else names=/proc/net/ip6_tables_names; fi
    save=
    if command -v \${pfx}tables-legacy-save >/dev/null 2>&1; then save=\${pfx}tables-legacy-save
    elif command -v \${pfx}tables-save >/dev/null 2>&1 && ! command -v \${pfx}tables-nft-save >/dev/null 2>&1; then
      case "$(\${pfx}tables -V 2>/dev/null)" in *nf_tables*) ;; *) save=\${pfx}tables-save ;; esac
    fi
    if [ -n "$save" ] && ctk_legacy_has "$names" raw; then ctk_tagged_rows "$save" "$("$save" -t raw 2>/dev/null)"; fi
  done
  if [ ! -e /proc/modules ] || [ -d /sys/module/nf_tables ] || grep -qs '/nf_tables\\.ko' "/lib/modules/$ctk_kr/modules.builtin"; then
    # One listing of the tables says which of the three listings below can hold a rule at all (a
    # table that is not there lists nothing): one nft for what was up to three programs. Where nft
    # cannot list them, all three run.
    _ctkl='
'
    if command -v nft >/dev/null 2>&1 && _ctkt=$(nft list tables 2>/dev/null); then _ctkt="$_ctkl$_ctkt$_ctkl"; else _ctkt=all; fi
    for save in iptables-nft-save ip6tables-nft-save; do
      case "$_ctkt" in all | *"\${_ctkl}table \${save%%tables-nft-save} raw$_ctkl"*) ;; *) continue ;; esac
      if command -v $save >/dev/null 2>&1; then ctk_tagged_rows $save "$($save -t raw 2>/dev/null)"; fi
    done
    if command -v nft >/dev/null 2>&1; then
      case "$_ctkt" in all | *"\${_ctkl}table inet ${NFT_TABLE}$_ctkl"*) ;; *) return 0 ;; esac
      # Absent table: nft fails and prints nothing, and no awk runs.
      _ctkn=$(nft list table inet ${NFT_TABLE} 2>/dev/null) || _ctkn=
      if [ -n "$_ctkn" ]; then
        awk ${shQuote(NFT_RULES_AWK)} <<ctk_eof
$_ctkn
ctk_eof
      fi
    fi
  fi
  return 0
}
ctk_tagged_rows() {
  # A listing read whole, then by awk only where it holds the tag at all: a host's tables without
  # this package's rules cost no program, and no listing and awk run side by side in a pipeline.
  case "$2" in *${shQuote(RULE_TAG_PREFIX)}*) ;; *) return 0 ;; esac
  awk -v p="$1" ${shQuote(TAGGED_RULE_AWK)} <<ctk_eof
$2
ctk_eof
}`;

/** A NotrackRule of this package found on the host. */
export interface ManagedNotrackRule {
  /** The tool that listed it (`iptables-legacy-save`, `ip6tables-nft-save`, `nft`). */
  source: string;
  /** The rule as listed. */
  rule: string;
}

/** Parses `ctk_notrack_scan` output. */
export function parseNotrackScan(text: string): ManagedNotrackRule[] {
  const out: ManagedNotrackRule[] = [];
  for (const row of text.split("\n")) {
    const tab = row.indexOf("\t");
    if (tab > 0) out.push({ source: row.slice(0, tab), rule: row.slice(tab + 1) });
  }
  return out;
}

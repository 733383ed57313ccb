/**
 * Shell functions shared by the observe and apply scripts, so that both read the live ruleset the
 * same way and the apply script can tell whether it changed since it was observed (same text in,
 * same hash out).
 */
import { NFT_TABLE } from "../../../common/markers";

/**
 * - `ctk_ipt_bin VARIANT FAMILY save|restore`: the binary of the iptables variant asked for
 *   (`iptables-legacy-save`...), or the plain one where the variant has no binary of its own.
 * - `ctk_ipt_raw_save VARIANT FAMILY`: the raw table without comment lines, read from the tool's
 *   standard output only (never its warnings); fails (with the tool's message on stderr) when the table cannot be read, so that an unreadable table is never taken
 *   for an empty one. Never makes the kernel create a table: the legacy table is read only when it
 *   exists, the nft one only when nf_tables is there.
 * - `ctk_chain_hash CHAIN`: sha256 of a chain's `-A` lines on stdin.
 * - `ctk_nft_ok`: whether asking nft is free of side effects (nf_tables present or built in).
 * - `ctk_ascii TEXT`: whether TEXT holds only printable ASCII, tabs and newlines: then the provider
 *   hashes the observed text itself, byte for byte what `sha256sum` would print, and the observe
 *   script saves the processes (see {@link chainHash}).
 * - `ctk_nft_table`: the JSON listing of this package's table (empty when absent), stateless
 *   (`-s`: counters without their values). The apply script compares its hash with the observed
 *   one: with the values in it, any packet a counted rule matched between observe and apply would
 *   look like a change of the table, and a busy DNS server would never get an apply through.
 */
export const SHELL_FUNCTIONS = `ctk_ipt_bin() {
  if [ "$2" = 6 ]; then _b=ip6tables; else _b=iptables; fi
  if [ -n "$1" ] && command -v "$_b-$1-$3" >/dev/null 2>&1; then echo "$_b-$1-$3"; else echo "$_b-$3"; fi
}
ctk_nft_ok() {
  [ ! -e /proc/modules ] || [ -d /sys/module/nf_tables ] || grep -qs '/nf_tables\\.ko' "/lib/modules/$ctk_kr/modules.builtin"
}
ctk_ascii() {
  case "$1" in *[!\\ -~'\t''\n']*) return 1 ;; esac
  return 0
}
ctk_ipt_raw_save() {
  if [ "$1" = legacy ]; then
    if [ "$2" = 6 ]; then _n=/proc/net/ip6_tables_names; else _n=/proc/net/ip_tables_names; fi
    grep -qx raw "$_n" 2>/dev/null || return 0
  else
    ctk_nft_ok || return 0
  fi
  _s=$(ctk_ipt_bin "$1" "$2" save)
  command -v "$_s" >/dev/null 2>&1 || return 0
  # Standard output only: iptables-nft-save warns on stderr ("# Warning: iptables-legacy tables
  # present"), and merged into the rules the warning lands inside a rule line once the table is
  # bigger than a pipe buffer. On failure the save runs again to tell why (reading changes nothing).
  _o=$("$_s" -t raw 2>/dev/null) || { _e=$("$_s" -t raw 2>&1 >/dev/null); printf '%s: %s\n' "$_s" "$_e" >&2; return 1; }
  printf '%s\n' "$_o" | grep -v '^#'
  return 0
}
ctk_chain_hash() {
  _h=$(awk -v c="$1" 'index($0, "-A " c " ") == 1' | sha256sum)
  printf '%s\\n' "\${_h%% *}"
}
ctk_nft_table() {
  if command -v nft >/dev/null 2>&1 && ctk_nft_ok; then nft -j -s list table inet ${NFT_TABLE} 2>/dev/null; fi
  return 0
}`;

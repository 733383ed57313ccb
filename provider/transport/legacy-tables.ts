/**
 * The legacy (x_tables) table check, in one place for every script that reads a legacy raw table
 * (NotrackRule's observe and apply, ModuleBlacklist's scan for this package's rules). Asking
 * `iptables-legacy-save -t raw` for a table the kernel does not have makes the kernel load
 * `iptable_raw` (and with it the x_tables core): a read would change the host. So a legacy table
 * is read only when `/proc/net/ip_tables_names` (or `ip6_tables_names`) already names it.
 *
 * - `ctk_legacy_has FILE TABLE`: whether the names FILE lists TABLE as a whole line; false when
 *   FILE cannot be read (no legacy tables at all). Read by the shell: a `grep -qx` here was a
 *   program per family and read.
 */
export const LEGACY_TABLE_FUNCTION = `ctk_legacy_has() {
  [ -r "$1" ] || return 1
  while IFS= read -r _ctkl || [ -n "$_ctkl" ]; do [ "$_ctkl" = "$2" ] && return 0; done < "$1"
  return 1
}`;

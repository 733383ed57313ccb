import { parseCoreBlocks } from "../module-blacklist/notrack-guard";
/**
 * Whether the host is configured to keep `nf_conntrack` out. A NOTRACK rule needs conntrack (the
 * CT target and nft's `notrack` are part of it): the kernel's own answer to a rule on such a host
 * is "Couldn't load target `CT'", which says nothing about why.
 */

/** One configuration line that keeps `nf_conntrack` from loading. */
export interface ConntrackBlock {
  /** `file:line`, or `kernel command line`. */
  where: string;
  /** The line as written. */
  text: string;
}

/**
 * Reads `ctk_conf_grep` output over the modprobe.d files modprobe reads (`path<TAB>line:text`) and the kernel command
 * line. `install nf_conntrack <command>` replaces loading the module with the command, so any
 * command that does not itself run modprobe or insmod (`/bin/false`, `/bin/true`, an echo) keeps
 * it out, also as a dependency. A bare `blacklist nf_conntrack` does not (it only ignores
 * aliases), so it is not reported.
 */
export function parseConntrackBlocks(grepOutput: string, cmdline: string): ConntrackBlock[] {
  // One parser with the ModuleBlacklist guard: any conntrack-core module (nf_defrag_ipv4 too).
  return parseCoreBlocks(grepOutput, cmdline).map(({ where, text }) => ({ where, text }));
}

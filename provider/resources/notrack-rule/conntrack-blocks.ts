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
 * Reads `grep -n` output over modprobe configuration (`path:line:text`) and the kernel command
 * line. `install nf_conntrack <command>` replaces loading the module with the command, so any
 * command that does not itself run modprobe or insmod (`/bin/false`, `/bin/true`, an echo) keeps
 * it out, also as a dependency. A bare `blacklist nf_conntrack` does not (it only ignores
 * aliases), so it is not reported.
 */
export function parseConntrackBlocks(grepOutput: string, cmdline: string): ConntrackBlock[] {
  const out: ConntrackBlock[] = [];
  for (const row of grepOutput.split("\n")) {
    const m = /^(.+?):(\d+):(.*)$/.exec(row);
    if (!m) continue;
    const words = m[3].trim().split(/\s+/);
    if (words[0] !== "install" || (words[1] ?? "").replace(/-/g, "_") !== "nf_conntrack") continue;
    const command = words.slice(2).join(" ");
    if (/\b(modprobe|insmod)\b/.test(command)) continue;
    out.push({ where: `${m[1]}:${m[2]}`, text: m[3].trim() });
  }
  for (const word of cmdline.trim().split(/\s+/)) {
    const m = /^module_blacklist=(.*)$/.exec(word);
    if (m && m[1].split(",").some((x) => x.replace(/-/g, "_") === "nf_conntrack")) out.push({ where: "kernel command line", text: word });
  }
  return out;
}

/**
 * The conntrack core and the configuration that keeps it out: read by NotrackRule (a NOTRACK rule
 * cannot load without conntrack) and by ModuleBlacklist (which refuses to keep it out under rules).
 * One reader, over what `conf-dirs.ts` returns, so both kinds agree on what blocks conntrack.
 */
import { moduleAlternation, parseConfMatches } from "./conf-dirs";

/**
 * The conntrack core every NotrackRule needs whatever its backend: `nf_conntrack` and the modules
 * it loads with (`nf_defrag_ipv4`/`_ipv6`; `nf_conntrack_ipv4`/`_ipv6` before 4.19). An `install`
 * line that disables any of them keeps conntrack out, so the NOTRACK target cannot load.
 */
export const CONNTRACK_CORE: readonly string[] = [
  "nf_conntrack",
  "nf_conntrack_ipv4",
  "nf_conntrack_ipv6",
  "nf_defrag_ipv4",
  "nf_defrag_ipv6",
];

/** Extended regex (grep -E) for an `install` line of a {@link CONNTRACK_CORE} module (`-` and `_` alike). */
export const CORE_INSTALL_ERE = `^[[:space:]]*install[[:space:]]+(${moduleAlternation(CONNTRACK_CORE)})[[:space:]]`;

/** A configuration line that keeps a {@link CONNTRACK_CORE} module from loading. */
export interface CoreBlock {
  /** `file:line`, or `kernel command line`. */
  where: string;
  /** The line (or command-line word) as written. */
  text: string;
  /** The module it disables (canonical name). */
  module: string;
}

/**
 * Reads `ctk_conf_grep` output over the modprobe.d files modprobe reads (`path<TAB>line:text`, see
 * `transport/conf-dirs.ts`: a file hidden by one of the same name in an earlier directory is not
 * among them) and the kernel command line for lines that disable a {@link CONNTRACK_CORE} module:
 * `install <m> <command>` whose command does not itself run modprobe or insmod, and
 * `module_blacklist=` naming one. A bare `blacklist` line is not one (it only ignores aliases). Pure.
 */
export function parseCoreBlocks(grepOutput: string, cmdline: string): CoreBlock[] {
  const out: CoreBlock[] = [];
  for (const { path, line, text } of parseConfMatches(grepOutput)) {
    const words = text.trim().split(/\s+/);
    const module = (words[1] ?? "").replace(/-/g, "_");
    if (words[0] !== "install" || !CONNTRACK_CORE.includes(module)) continue;
    if (/\b(modprobe|insmod)\b/.test(words.slice(2).join(" "))) continue;
    out.push({ where: `${path}:${line}`, text: text.trim(), module });
  }
  for (const word of cmdline.trim().split(/\s+/)) {
    const m = /^module_blacklist=(.*)$/.exec(word);
    const module = m?.[1]
      .split(",")
      .map((x) => x.replace(/-/g, "_"))
      .find((x) => CONNTRACK_CORE.includes(x));
    if (module) out.push({ where: "kernel command line", text: word, module });
  }
  return out;
}

/**
 * How a NotrackRule names such a line: the module the line really disables (`install
 * nf_defrag_ipv4 /bin/false` is not `install nf_conntrack`), and why that stops conntrack.
 */
export function describeCoreBlock(b: Pick<CoreBlock, "where" | "text">): string {
  const module =
    b.where === "kernel command line"
      ? (/^module_blacklist=(.*)$/
          .exec(b.text)?.[1]
          .split(",")
          .map((x) => x.replace(/-/g, "_"))
          .find((x) => CONNTRACK_CORE.includes(x)) ?? "nf_conntrack")
      : (b.text.split(/\s+/)[1] ?? "nf_conntrack").replace(/-/g, "_");
  const why = module === "nf_conntrack" ? "" : " (nf_conntrack depends on it, so conntrack cannot load)";
  return `${module} is disabled on this host by \`${b.text}\` in ${b.where}${why}`;
}

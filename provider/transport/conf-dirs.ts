/**
 * One reader of the configuration directories modprobe (and systemd-sysctl) read, with their
 * precedence rules, for every observe script that looks for settings outside this package's own
 * files (kmod's modprobe.d(5); sysctl.d(5) has the same rules):
 *
 * - the directories are read in a fixed order of precedence, `/etc` first;
 * - a file in an earlier directory hides the file of the same name in every later one (so an empty
 *   `/etc/modprobe.d/x.conf`, or one linked to `/dev/null`, switches off a packaged `/lib/modprobe.d/x.conf`);
 * - only names ending in `.conf` are read, directories are skipped;
 * - the files left are read in lexical order of their names (C locale), whatever their directory:
 *   for options, the last one read wins.
 *
 * The host lists and greps (the shell text below); what a match means is decided in TypeScript
 * ({@link parseConfMatches} and each kind's planner).
 */
import { createHash } from "node:crypto";
import { shQuote } from "./quote";

/** modprobe.d directories in kmod's order of precedence (`/usr/lib` is kmod's DISTCONFDIR, before `/lib`). */
export const MODPROBE_D_DIRS: readonly string[] = [
  "/etc/modprobe.d",
  "/run/modprobe.d",
  "/usr/local/lib/modprobe.d",
  "/usr/lib/modprobe.d",
  "/lib/modprobe.d",
];

/** sysctl.d directories in systemd-sysctl's order of precedence. */
export const SYSCTL_D_DIRS: readonly string[] = [
  "/etc/sysctl.d",
  "/run/sysctl.d",
  "/usr/local/lib/sysctl.d",
  "/usr/lib/sysctl.d",
  "/lib/sysctl.d",
];

/**
 * Shell functions:
 * - `ctk_conf_list DIR...`: sets `_cl` to the files read from DIR... (in precedence order), one path
 *   and a line break each, in the order they are read: for each `*.conf` name the first directory's
 *   entry (any entry but a directory hides the name; a dangling link does not), sorted by name
 *   (bytewise, as the C locale sorts). A name with a line break in it is left out: no row could
 *   name it. A DIR that is a regular file (`/etc/sysctl.conf`) is read after all the directories'
 *   files, whatever its name, and hides nothing: what `sysctl --system` does with it.
 * - `ctk_conf_grep ERE EXCLUDE DIR...`: `path<TAB>line:text` for every line matching ERE (grep -E)
 *   in those files, in the order read. EXCLUDE (a path, or empty) still hides its name but its lines
 *   are left out: a kind's own managed file is not a setting "outside" it. Unreadable files say nothing.
 * - `ctk_conf_grep_as TAG ERE EXCLUDE DIR...`: the same rows, each after TAG and a tab, for an
 *   observe script that reports several sources in one section (what a `| while read` loop per
 *   source printed, without its two processes).
 *
 * The list is built by the shell alone (builtins, no subshell): a `sort | awk` pipeline was two
 * programs and three processes per call, and on the small VMs measured here process starts are most
 * of an observe script's cost. The lists are short (a directory holds a few dozen files at most),
 * so an insertion sort costs less than starting one program.
 */
export const CONF_DIR_FUNCTIONS = `ctk_conf_list() {
  _cl=; _cs=/; _ct=
  for _cd in "$@"; do
    if [ -f "$_cd" ]; then _ct="$_ct$_cd
"; continue; fi
    for _cf in "$_cd"/*.conf; do
      [ -e "$_cf" ] && [ ! -d "$_cf" ] || continue
      _cb=\${_cf##*/}
      case $_cb in *'
'*) continue ;; esac
      # Names hold no "/": "/name/" marks a name as seen, the first directory's entry is kept.
      case $_cs in *"/$_cb/"*) continue ;; esac
      _cs=$_cs$_cb/
      # Sorted already where it sorts after the last name (a directory's names mostly come sorted).
      if [ -z "$_cl" ] || [ "$_cz" \\< "$_cb" ]; then _cl="$_cl$_cf
"; _cz=$_cb; continue; fi
      # Otherwise inserted before the first entry whose name sorts after it.
      _co=$_cl; _cl=; _ci=
      while [ -n "$_co" ]; do
        _ce=\${_co%%'
'*}; _co=\${_co#*'
'}
        if [ -z "$_ci" ] && [ "$_cb" \\< "\${_ce##*/}" ]; then _cl="$_cl$_cf
"; _ci=1; fi
        _cl="$_cl$_ce
"
      done
      [ -n "$_ci" ] || _cl="$_cl$_cf
"
    done
  done
  _cl=$_cl$_ct
}
ctk_conf_grep() {
  _ctag=; ctk_conf_match "$@"
}
ctk_conf_grep_as() {
  _ctag="$1\t"; shift; ctk_conf_match "$@"; _ctag=
}
ctk_conf_match() {
  _cre=$1; _cx=$2; shift 2
  ctk_conf_list "$@"
  set --
  while IFS= read -r _cf; do
    [ "$_cf" != "$_cx" ] && [ -f "$_cf" ] && set -- "$@" "$_cf"
  done <<ctk_eof
$_cl
ctk_eof
  [ "$#" -gt 0 ] || return 0
  # One grep for all the files, its "path:" turned into "path<TAB>" (no path here holds a ":";
  # where one does, a grep per file). The loop reads a variable: no subshell per line or file.
  case "$*" in
  *:*) for _cf in "$@"; do _cm=$(grep -nE -- "$_cre" "$_cf" 2>/dev/null); ctk_conf_rows "$_cf" "$_cm"; done ;;
  *) _cm=$(grep -HnE -- "$_cre" "$@" 2>/dev/null); ctk_conf_rows "" "$_cm" ;;
  esac
  return 0
}
ctk_conf_rows() {
  [ -n "$2" ] || return 0
  while IFS= read -r _cr; do
    if [ -n "$1" ]; then printf '%s%s\\t%s\\n' "$_ctag" "$1" "$_cr"; else printf '%s%s\\t%s\\n' "$_ctag" "\${_cr%%:*}" "\${_cr#*:}"; fi
  done <<ctk_eof
$2
ctk_eof
}`;

/**
 * Shell text (needs {@link CONF_DIR_FUNCTIONS}) that prints the lines matching `ere` of the modprobe.d
 * files modprobe reads, except those of `exclude` (shell text: a quoted path or a `"$var"`). With
 * `tag`, each row after it and a tab (`ctk_conf_grep_as`).
 */
export function modprobeGrep(ere: string, exclude = '""', tag?: ConfTag): string {
  return tag ? `ctk_conf_grep_as ${tag} ${shQuote(ere)} ${exclude} ${MODPROBE_D_DIRS.join(" ")}` : modprobeGrepWord(shQuote(ere), exclude);
}

/** A source's name before each row of `ctk_conf_grep_as` (a word: no quoting needed). */
export type ConfTag = "modprobe" | "sysctl";

/**
 * As {@link modprobeGrep}, with the ERE given as shell text: a positional parameter (`"$gere"`) of a
 * script that takes the ERE as a value.
 */
export function modprobeGrepWord(ereWord: string, exclude = '""'): string {
  return `ctk_conf_grep ${ereWord} ${exclude} ${MODPROBE_D_DIRS.join(" ")}`;
}

/**
 * The alternation of module names for an ERE: modprobe treats `-` and `_` in a module name alike,
 * so each `_` matches either.
 */
export function moduleAlternation(modules: readonly string[]): string {
  return modules.map((m) => m.replace(/_/g, "[-_]")).join("|");
}

/** The file `sysctl --system` reads after the sysctl.d directories' files. */
export const SYSCTL_CONF = "/etc/sysctl.conf";

/**
 * As {@link modprobeGrep}, over the sysctl.d directories and then {@link SYSCTL_CONF} (unless it is
 * `exclude`): one grep for both, where a grep of its own for `/etc/sysctl.conf` was one more process
 * on every host in every read.
 */
export function sysctlGrep(ere: string, exclude = '""', tag?: ConfTag): string {
  return `${tag ? `ctk_conf_grep_as ${tag}` : "ctk_conf_grep"} ${shQuote(ere)} ${exclude} ${[...SYSCTL_D_DIRS, SYSCTL_CONF].join(" ")}`;
}

/** One line of a configuration file that matched. */
export interface ConfMatch {
  /** The file it is in. */
  path: string;
  /** Its line number (1-based). */
  line: number;
  /** The line as written. */
  text: string;
}

/**
 * Parses one `path<TAB>line:text` row of `ctk_conf_grep`; null for anything else. The text may hold
 * a carriage return (a file saved with CRLF line ends): modprobe still reads such a line. Pure.
 */
export function parseConfMatch(row: string): ConfMatch | null {
  const m = /^([^\t]+)\t(\d+):(.*)$/s.exec(row);
  return m ? { path: m[1], line: Number(m[2]), text: m[3] } : null;
}

/** Parses `ctk_conf_grep` output, keeping its order (the order modprobe reads the lines). Pure. */
export function parseConfMatches(text: string): ConfMatch[] {
  return text.split("\n").flatMap((row) => parseConfMatch(row) ?? []);
}

/**
 * The JavaScript regex that tests a line as `grep -E ere` does in the C locale, for the EREs of this
 * package (anchors, groups, alternation, bracket sets and `[[:space:]]`): one grep pass for the union
 * of several EREs is split back per ERE in TypeScript, one process per file fewer on the host.
 */
export function ereRegExp(ere: string): RegExp {
  const js = ere.split("[[:space:]]").join("[ \\t\\n\\v\\f\\r]");
  if (js.includes("[[:")) throw new Error(`internal error: ereRegExp knows no other character class (${ere})`);
  return new RegExp(js);
}

/**
 * sha256 (hex) of the rows of `ctk_conf_grep` output whose line matches `re`, as the bytes `ctk_conf_grep`
 * prints for them (each row and its line break): what `ctk_out_sum ctk_conf_grep ERE ...` gives on
 * the host when `re` is that ERE's {@link ereRegExp} and the output is of an ERE that covers it. An
 * apply compares the two under the host lock to know that the lines its plan decided by are still
 * there, and no other. Undefined when a row holds bytes that did not decode as UTF-8: the text is no
 * longer the host's bytes, so no digest of it would ever match. Pure.
 */
export function confRowsDigest(grepOutput: string, re: RegExp): string | undefined {
  const rows = confRowsMatching(grepOutput, re);
  if (rows.includes("\uFFFD")) return undefined;
  return createHash("sha256")
    .update(rows === "" ? "" : `${rows}\n`, "utf8")
    .digest("hex");
}

/** The rows of `ctk_conf_grep` output whose line matches `re`, in their order, as `ctk_conf_grep` output. Pure. */
export function confRowsMatching(grepOutput: string, re: RegExp): string {
  return grepOutput
    .split("\n")
    .filter((row) => {
      const m = parseConfMatch(row);
      return m !== null && re.test(m.text);
    })
    .join("\n");
}

import { sectionStart } from "../transport/sections";
import { MODPROBE_DIR } from "./markers";
import type { Refusal } from "./refusal";

/**
 * The host-side record of what a host had before a resource of this package first changed it, so
 * that "previous" survives a create whose result never reached the state (the connection was cut,
 * or the response was lost): the retry reads the record instead of taking the first attempt's own
 * values for the host's (issue #12, item 3; issue #11). Written by the create's apply script under
 * the host lock before its first change, kept by updates, removed by delete after it has put the
 * values back. What a record holds, and when it still describes the host, is each kind's
 * (`helper-setting/previous-record.ts`, `table-size/previous-record.ts`); where it lives, how it is
 * observed and the life cycle are here.
 *
 * It lives in `/etc/modprobe.d`, named `.<managed file name>.pulumi-conntrack-previous`: on the
 * same file system as `/etc` (it survives a reboot, goes with backups and images of `/etc`, and a
 * read-only `/etc` stops both alike), one per managed path (another file name never collides), and
 * invisible to modprobe, initramfs hooks and this package's own `*.conf` scans (a dotfile not
 * ending in `.conf`; kmod skips both).
 *
 * @packageDocumentation
 */

/** Suffix of a record's name; the name never ends with the managed file's own name. */
export const PREVIOUS_RECORD_SUFFIX = ".pulumi-conntrack-previous";

/** Path of the record for a managed file name (a file in `/etc/modprobe.d`). */
export function previousRecordPath(fileName: string): string {
  return `${MODPROBE_DIR}/.${fileName}${PREVIOUS_RECORD_SUFFIX}`;
}

/** Format of a record's text (`version=` line); another version is not read. */
export const PREVIOUS_RECORD_VERSION = "1";

/** What observe finds at a record's path; `T` is what a record of this kind holds. */
export type RecordState<T> =
  | { kind: "none" }
  /** A record this package wrote: the host's values before the first change. */
  | ({ kind: "record" } & T)
  /** A regular file that is not a record of this version (unreadable, another version, damaged). */
  | { kind: "unusable"; why: string }
  /** A symlink, directory or device: never written through, read or removed. */
  | { kind: "blocked"; what: string };

/**
 * Shell text (part of an observe script; `$r` is the record's path, empty for none) that prints
 * the `previous` section: `state=absent|present|symlink|other|unreadable`, then the record's lines
 * whose key matches `keys` (an ERE alternation, e.g. `version|kind|hex`).
 */
export function previousObserveSh(keys: string): string {
  return `${sectionStart("previous")}
if [ -z "$r" ]; then :
elif [ -L "$r" ]; then echo state=symlink
elif [ -f "$r" ]; then
  if t=$(cat -- "$r"); then echo state=present; printf '%s\\n' "$t" | grep -E '^(${keys})=' || true
  else echo state=unreadable; fi
elif [ -e "$r" ]; then echo state=other
else echo state=absent; fi`;
}

/**
 * Parses the `previous` section's key/values: the state, the version, then the kind's own lines
 * with `body`, which returns what the record holds or, as a string, why it is unusable.
 */
export function parseRecordState<T extends object>(kv: Map<string, string>, body: (kv: Map<string, string>) => T | string): RecordState<T> {
  switch (kv.get("state")) {
    case undefined:
    case "absent":
      return { kind: "none" };
    case "symlink":
      return { kind: "blocked", what: "a symlink" };
    case "other":
      return { kind: "blocked", what: "not a regular file" };
    case "unreadable":
      return { kind: "unusable", why: "it cannot be read" };
  }
  if (kv.get("version") !== PREVIOUS_RECORD_VERSION)
    return { kind: "unusable", why: `it is not a record of format ${PREVIOUS_RECORD_VERSION}` };
  const held = body(kv);
  return typeof held === "string" ? { kind: "unusable", why: held } : { kind: "record", ...held };
}

/**
 * What an apply script does with the record:
 * - `make`: write it before the first change unless one exists (create);
 * - `replace`: write it before the first change over a stale or unusable one (create);
 * - `drop`: remove it after the values were put back (delete);
 * - `keep`: leave it alone (update, and any run without changes).
 */
export type RecordAction = "make" | "replace" | "drop" | "keep";

/** What a create that changes something does with the record it finds (`usable`: it still describes the host). */
export function recordActionAtCreate(state: RecordState<object>, usable: boolean): RecordAction {
  return state.kind === "none" || usable ? "make" : "replace";
}

/** What delete does with the record: removes this package's (or an unusable one), leaves anything else alone. */
export function recordActionAtDelete(state: RecordState<object>): RecordAction {
  return state.kind === "record" || state.kind === "unusable" ? "drop" : "keep";
}

/**
 * Where the earlier values came from, or why a record was ignored, for a create's outputs (said
 * once). `describes` is what the record was checked against (the managed file or files).
 */
export function recordNotes(
  state: RecordState<object>,
  usable: boolean,
  path: string,
  describes: string,
): { notes: string[]; warnings: string[] } {
  if (state.kind === "none") return { notes: [], warnings: [] };
  if (usable)
    return {
      notes: [
        `The values before this resource first changed the host were read from ${path}, written by an earlier create of it that did not complete (or whose result was lost); delete puts them back and removes that file.`,
      ],
      warnings: [],
    };
  if (state.kind === "record")
    return {
      notes: [],
      warnings: [
        `${path} recorded the host before an earlier pulumi-conntrack change, but ${describes} was changed by hand since: it was ignored, and the host as it is now is what delete puts back.`,
      ],
    };
  if (state.kind === "unusable")
    return { notes: [], warnings: [`${path} was ignored (${state.why}); the host as it is now is what delete puts back.`] };
  return { notes: [], warnings: [] };
}

/** The refusal of a create that would change something while `path` holds a symlink or directory (`what`). */
export function blockedRecordRefusal(path: string, what: string): Refusal {
  return {
    error: "conflict",
    command: `write ${path}`,
    message: `${path} is ${what}; this resource keeps the host's earlier values there (a regular file) before it changes anything`,
    hint: `remove ${path} (a symlink or directory there is not this package's), then run again`,
  };
}

/**
 * Shell text of an apply script's record step, run under the host lock before the first change.
 * Uses `$r` (the record's path), `$ra` (its {@link RecordAction}), the kind's `ctk_previous_text`
 * and `ctk_write_text` (`transport/files.ts`). For `make` and `replace` it refuses a record path that
 * is not a regular file, then writes what `ctk_previous_text` prints, unless (`make`) a record is
 * there already: an earlier attempt's, taken before its first change, which must stay.
 *
 * @param o.fail the script's function that stops it with a message
 * @param o.reads what `ctk_previous_text` reads, for the message when it cannot
 * @param o.writeFailed the rest of the message when the write fails (after the record's part)
 * @param o.beforeWrite shell text run right before the write (a backup of a record it replaces)
 * @param o.afterWrite shell text run right after it
 */
export function recordStepSh(o: { fail: string; reads: string; writeFailed: string; beforeWrite?: string; afterWrite?: string }): string {
  const indent = (text: string | undefined) => (text ? `${text.replace(/^/gm, "      ")}\n` : "");
  return `case "$ra" in
  keep | drop) ;;
  make | replace)
    if [ -L "$r" ] || { [ -e "$r" ] && [ ! -f "$r" ]; }; then
      ${o.fail} "$r is not a regular file; remove it (this resource keeps the host's earlier values there)"
    fi
    # make: an existing record is an earlier attempt's, taken before its first change: keep it.
    if [ "$ra" = replace ] || [ ! -e "$r" ]; then
      rec=$(ctk_previous_text) || ${o.fail} "cannot read ${o.reads} and the live values to record them in $r"
${indent(o.beforeWrite)}      # The record's text ends with a newline, as a text file's does (the substitution dropped it).
      ctk_write_text "$r" 0600 "$rec
" || ${o.fail} "cannot write $r (the record of the host's earlier values, kept before the first change)${o.writeFailed}"
${indent(o.afterWrite)}    fi ;;
  *) ${o.fail} "unknown record action $ra" ;;
esac`;
}

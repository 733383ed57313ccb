import { createHash } from "node:crypto";
import type { Connection } from "../connection/schema";
import { commandFailed, exec, script } from "./exec";
import { EXIT } from "./exit-codes";

/** A remote file as read: absent, or present with its content and octal mode. */
export type RemoteFile = { exists: false } | { exists: true; content: string; mode: string };

/** Shell text that prints `$1`'s mode on one line and then its content; exits {@link EXIT.ABSENT} when absent. */
export const READ_FILE_SCRIPT = `[ -e "$1" ] || [ -L "$1" ] || exit ${EXIT.ABSENT}
stat -c %a -- "$1" && exec cat -- "$1"`;

/**
 * Reads a file, telling "absent" (a value) from "unreadable" (a {@link RemoteCommandError} naming
 * the path and the host's reason).
 */
export async function readRemoteFile(conn: Connection, path: string): Promise<RemoteFile> {
  const argv = script(READ_FILE_SCRIPT, [path]);
  const r = await exec(conn, argv, { label: `read ${path}` });
  if (r.exitCode === EXIT.ABSENT && r.stdout === "") return { exists: false };
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, {
      label: `read ${path}`,
      hint: "check the path and the user's permissions (sudo: true for root-owned files)",
    });
  const nl = r.stdout.indexOf("\n");
  return { exists: true, mode: r.stdout.slice(0, nl), content: r.stdout.slice(nl + 1) };
}

/** sha256 (hex) of the bytes a write sends on standard input, for `ctk_tmp_fill`'s check. */
export function contentSha256(content: string | Buffer): string {
  return createHash("sha256")
    .update(typeof content === "string" ? Buffer.from(content, "utf8") : content)
    .digest("hex");
}

/**
 * The host-side convention for writing a file atomically, in one place: shell functions every apply
 * script of this package includes (ModuleBlacklist, ConntrackHelperSetting, ConntrackTableSize and
 * NotrackRule's saved ruleset).
 *
 * - `ctk_tmp_new FILE`: creates FILE's directory and an empty temporary file next to FILE, named
 *   `.ctk-tmp.<basename>.XXXXXX`, and prints its path. The name is deterministic up to the random
 *   suffix, so a later run recognises a temporary file of FILE that a killed run left behind.
 * - `ctk_tmp_sweep FILE`: removes those leftovers of FILE (exactly `.ctk-tmp.<basename>.` and six
 *   characters: another file's temporary files never match), and temporary files of the unnamed
 *   kind releases before 0.2 wrote (`.ctk-tmp.XXXXXX`) once they are older than 10 minutes (a live
 *   writer's would be seconds old). Callers run it under the host lock, where no other run of this
 *   package is writing FILE.
 * - `ctk_tmp_fill TMP SHA256`: copies standard input into TMP and checks that it is the content the
 *   client sent (its sha256, a positional parameter: a command line arrives whole or not at all,
 *   standard input does not). Returns 1 when the file system refuses the bytes, and
 *   {@link EXIT.INPUT_INCOMPLETE} when standard input ended early: an apply whose client went
 *   away before all of its input was sent must not install the part that arrived (an empty
 *   `/etc/nftables.conf` is a host without its firewall at the next boot).
 * - `ctk_tmp_commit TMP FILE MODE`: gives TMP the mode and owner of an existing FILE (or MODE for a
 *   new one) and renames it over FILE: readers never see half a file.
 * - `ctk_write_file FILE MODE SHA256`: all of it for standard input (sweep, new, fill and check,
 *   sync, commit), in a subshell that removes its temporary file on any failure or INT/TERM; exits
 *   non-zero on failure ({@link EXIT.INPUT_INCOMPLETE} for input that did not arrive whole).
 * - `ctk_write_text FILE MODE TEXT`: the same for TEXT given as an argument (it arrived whole with
 *   the command line, so its own sha256 is the check): for content the script itself made or
 *   received as a positional parameter. Exits as `ctk_write_file`.
 * - `ctk_remove_file FILE`: sweeps FILE's leftovers, then removes FILE (absent is success).
 *
 * A run killed with SIGKILL (or whose host loses power) between `ctk_tmp_new` and the rename leaves
 * its temporary file; the next write or removal of the same file removes it.
 */
export const ATOMIC_WRITE_FUNCTIONS = `ctk_path_split() {
  # $_ctkd and $_ctkb: what dirname and basename print for the path of a file (no trailing slash),
  # without their two processes per call.
  case "$1" in
  */*) _ctkd=\${1%/*}; while [ "\${_ctkd%/}" != "$_ctkd" ]; do _ctkd=\${_ctkd%/}; done; [ -n "$_ctkd" ] || _ctkd=/ ;;
  *) _ctkd=. ;;
  esac
  _ctkb=\${1##*/}
}
ctk_tmp_sweep() {
  ctk_path_split "$1"
  _ctko=
  for _ctkt in "$_ctkd"/.ctk-tmp.*; do
    # Quoted parts of a case pattern are literal: a file name with * or ? in it matches only itself.
    case "$_ctkt" in
    "$_ctkd/.ctk-tmp.$_ctkb".??????) rm -f -- "$_ctkt" ;;
    "$_ctkd/.ctk-tmp."??????) _ctko=1 ;;
    esac
  done
  # find (for the age) only where the glob saw one of the unnamed kind: no process otherwise.
  [ -z "$_ctko" ] || find "$_ctkd" -maxdepth 1 -name '.ctk-tmp.??????' -type f -mmin +10 -exec rm -f -- {} + 2>/dev/null
  return 0
}
ctk_tmp_new() {
  ctk_path_split "$1"
  { [ -d "$_ctkd" ] || mkdir -p -- "$_ctkd"; } && mktemp -- "$_ctkd/.ctk-tmp.$_ctkb.XXXXXX"
}
ctk_tmp_fill() {
  cat > "$1" || return 1
  _ctkh=$(sha256sum < "$1") && [ "\${_ctkh%% *}" = "$2" ] && return 0
  echo "the file's content did not arrive whole (standard input ended early: the client went away?); nothing was written" >&2
  return ${EXIT.INPUT_INCOMPLETE}
}
ctk_tmp_commit() {
  if [ -e "$2" ]; then
    chmod --reference="$2" -- "$1" && { chown --reference="$2" -- "$1" 2>/dev/null || true; }
  else
    chmod -- "$3" "$1"
  fi && mv -f -- "$1" "$2"
}
ctk_write_file() (
  ctk_tmp_sweep "$1"
  tmp=$(ctk_tmp_new "$1") || exit 1
  trap 'rm -f -- "$tmp"' EXIT
  trap 'rm -f -- "$tmp"; exit 1' INT TERM
  ctk_tmp_fill "$tmp" "$3" || exit
  sync -- "$tmp" 2>/dev/null || true
  ctk_tmp_commit "$tmp" "$1" "$2" || exit 1
  trap - EXIT
)
ctk_write_text() {
  _ctkw=$(printf '%s' "$3" | sha256sum)
  printf '%s' "$3" | ctk_write_file "$1" "$2" "\${_ctkw%% *}"
}
ctk_remove_file() {
  ctk_tmp_sweep "$1"
  rm -f -- "$1"
}`;

/**
 * Shell text that atomically replaces `$1` with standard input (see {@link ATOMIC_WRITE_FUNCTIONS}):
 * a temporary file in the same directory, then rename. An existing file keeps its mode and owner; a
 * new one gets mode `$2`. `$3` is the content's sha256: input that did not arrive whole is not written.
 */
export const WRITE_FILE_SCRIPT = `${ATOMIC_WRITE_FUNCTIONS}
ctk_write_file "$1" "$2" "$3"`;

/** Atomically writes `content` to `path` (see {@link WRITE_FILE_SCRIPT}). */
export async function writeRemoteFileAtomic(conn: Connection, path: string, content: string, opts: { mode?: string } = {}): Promise<void> {
  const mode = opts.mode ?? "0644";
  if (!/^[0-7]{3,4}$/.test(mode)) throw new TypeError(`mode must be octal, got ${mode}`);
  const argv = script(WRITE_FILE_SCRIPT, [path, mode, contentSha256(content)]);
  const r = await exec(conn, argv, { stdin: content, label: `write ${path}` });
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, {
      label: `write ${path}`,
      hint: "check that the directory is writable (sudo: true for a non-root user)",
    });
}

/** Removes `path` if it exists; absent is success. */
export async function removeRemoteFile(conn: Connection, path: string): Promise<void> {
  const argv = ["rm", "-f", "--", path];
  const r = await exec(conn, argv, { label: `remove ${path}` });
  if (r.exitCode !== EXIT.OK) throw commandFailed(conn, argv, r, { label: `remove ${path}` });
}

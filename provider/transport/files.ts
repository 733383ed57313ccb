import type { Connection } from "../connection/schema";
import { commandFailed, exec, script } from "./exec";

/** A remote file as read: absent, or present with its content and octal mode. */
export type RemoteFile = { exists: false } | { exists: true; content: string; mode: string };

const ABSENT_EXIT = 3;

/** Shell text that prints `$1`'s mode on one line and then its content; exits 3 when absent. */
export const READ_FILE_SCRIPT = `[ -e "$1" ] || [ -L "$1" ] || exit ${ABSENT_EXIT}
stat -c %a -- "$1" && exec cat -- "$1"`;

/**
 * Reads a file, telling "absent" (a value) from "unreadable" (a {@link RemoteCommandError} naming
 * the path and the host's reason).
 */
export async function readRemoteFile(conn: Connection, path: string): Promise<RemoteFile> {
  const argv = script(READ_FILE_SCRIPT, [path]);
  const r = await exec(conn, argv, { label: `read ${path}` });
  if (r.exitCode === ABSENT_EXIT && r.stdout === "") return { exists: false };
  if (r.exitCode !== 0) throw commandFailed(conn, argv, r, { label: `read ${path}`, hint: "check the path and the user's permissions (sudo: true for root-owned files)" });
  const nl = r.stdout.indexOf("\n");
  return { exists: true, mode: r.stdout.slice(0, nl), content: r.stdout.slice(nl + 1) };
}

/**
 * Shell text that atomically replaces `$1` with standard input: a temporary file in the same
 * directory, then rename, so readers never see half a file. An existing file keeps its mode and
 * owner; a new one gets mode `$2`.
 */
export const WRITE_FILE_SCRIPT = `set -e
f=$1
d=$(dirname -- "$f")
mkdir -p -- "$d"
tmp=$(mktemp -- "$d/.ctk-tmp.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
if [ -e "$f" ]; then
  chmod --reference="$f" -- "$tmp"
  chown --reference="$f" -- "$tmp" 2>/dev/null || true
else
  chmod -- "$2" "$tmp"
fi
sync -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" "$f"
trap - EXIT`;

/** Atomically writes `content` to `path` (see {@link WRITE_FILE_SCRIPT}). */
export async function writeRemoteFileAtomic(conn: Connection, path: string, content: string, opts: { mode?: string } = {}): Promise<void> {
  const mode = opts.mode ?? "0644";
  if (!/^[0-7]{3,4}$/.test(mode)) throw new TypeError(`mode must be octal, got ${mode}`);
  const argv = script(WRITE_FILE_SCRIPT, [path, mode]);
  const r = await exec(conn, argv, { stdin: content, label: `write ${path}` });
  if (r.exitCode !== 0) throw commandFailed(conn, argv, r, { label: `write ${path}`, hint: "check that the directory is writable (sudo: true for a non-root user)" });
}

/** Removes `path` if it exists; absent is success. */
export async function removeRemoteFile(conn: Connection, path: string): Promise<void> {
  const argv = ["rm", "-f", "--", path];
  const r = await exec(conn, argv, { label: `remove ${path}` });
  if (r.exitCode !== 0) throw commandFailed(conn, argv, r, { label: `remove ${path}` });
}

/**
 * The host lock, in one place: every apply script of this package takes it around the changes
 * another run (of any kind) checks or rewrites (files under /etc, the raw table, the NotrackRule
 * guard of ModuleBlacklist), with the same wait and the same exit code on timeout.
 */
import { hostLabel, type Connection } from "../connection/schema";
import { RemoteCommandError } from "../errors";
import type { ExecResult } from "./exec";
import { EXIT } from "./exit-codes";

/** The lock file, on the host's tmpfs `/run` (gone at reboot, when no run can hold it). */
export const HOST_LOCK_PATH = "/run/pulumi-conntrack.lock";

/**
 * How long an apply waits for the lock, in seconds. The longest hold is a NotrackRule apply whose
 * `iptables-legacy-restore -w 60` waits up to 60 s for the xtables lock, plus a few seconds of work;
 * ModuleBlacklist releases the lock before it regenerates an initramfs or unloads, the other kinds
 * hold it for a few file writes. 100 s covers the longest hold with room to spare and, with the work
 * after the lock, stays inside the client's default command timeout (120 s): a wait the client gives
 * up on first would end as a cut connection instead of this clear refusal.
 */
export const HOST_LOCK_WAIT_SECONDS = 100;

/**
 * Shell text that takes the host lock on file descriptor 9, where `flock` is present (a host without
 * it runs unlocked, as every release did). On timeout it exits {@link EXIT.LOCK_TIMEOUT} having
 * changed nothing. The lock is released when the script ends, or earlier with
 * {@link RELEASE_HOST_LOCK}. Every apply script includes exactly this text: no other `flock` of
 * the host lock exists in the package.
 */
export const TAKE_HOST_LOCK = `if command -v flock >/dev/null 2>&1; then
  exec 9>>${HOST_LOCK_PATH} || { echo "pulumi-conntrack: cannot open ${HOST_LOCK_PATH}" >&2; exit ${EXIT.FAILED}; }
  flock -w ${HOST_LOCK_WAIT_SECONDS} 9 || { echo "pulumi-conntrack: timed out after ${HOST_LOCK_WAIT_SECONDS} s waiting for ${HOST_LOCK_PATH} (another pulumi-conntrack change on this host holds it)" >&2; exit ${EXIT.LOCK_TIMEOUT}; }
fi`;

/** Shell text that releases the host lock before the script ends (slow steps that need no lock run after it). */
export const RELEASE_HOST_LOCK = "exec 9>&-";

/** The error for an apply that exited {@link EXIT.LOCK_TIMEOUT}: nothing was changed; a retry is the remedy. */
export function lockTimeoutError(conn: Connection, label: string, r: ExecResult): RemoteCommandError {
  return new RemoteCommandError(`timed out after ${HOST_LOCK_WAIT_SECONDS} s waiting for ${HOST_LOCK_PATH}; nothing was changed`, r, {
    host: hostLabel(conn),
    command: label,
    hint: `another pulumi-conntrack change on this host held the lock for over ${HOST_LOCK_WAIT_SECONDS} s; run \`pulumi up\` again when it is done`,
  });
}

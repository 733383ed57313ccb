import { hostLabel, type Connection } from "../../connection/schema";
import { ConntrackError } from "../../errors";
import { commandFailed, exec, script } from "../../transport/exec";
import { EXIT } from "../../transport/exit-codes";
import { ATOMIC_WRITE_FUNCTIONS, contentSha256 } from "../../transport/files";
import { lockTimeoutError, RELEASE_HOST_LOCK, TAKE_HOST_LOCK } from "../../transport/host-lock";
import { describeChange, type Change } from "./plan";
import { HELPER_PARAM_PATH, HELPER_SYSCTL_PATH, OBSERVE_BODY, parseObservation, type HelperObservation } from "./observe";

/**
 * Makes the changes, then observes again in the same round trip so that outputs report what the
 * host shows afterwards. Positional parameters: `$1` managed path, `$2` file action
 * (`keep`/`write`/`remove`; `write` takes the content on stdin), `$3` live value or empty, `$4`
 * module parameter (`Y`/`N`) or empty, `$5` mode of a file `write` creates, `$6` sha256 of the
 * content (standard input that did not arrive whole is not written). The file is changed first: if a live write then fails, the
 * next run still finds the persisted value right and only repairs the live one.
 */
export const APPLY_SCRIPT = `m=$1; fa=$2; lv=$3; mp=$4; fm=$5; fsum=$6
fail() { printf 'pulumi-conntrack: %s\\n' "$*" >&2; exit 1; }
${ATOMIC_WRITE_FUNCTIONS}
if [ "$fa" != keep ]; then
  # Other resources of this package rewrite files in /etc/modprobe.d on the same host in parallel.
${TAKE_HOST_LOCK}
  case "$fa" in
    write) ctk_write_file "$m" "$fm" "$fsum" || fail "cannot write $m" ;;
    remove) ctk_remove_file "$m" || fail "cannot remove $m" ;;
    *) fail "unknown file action $fa" ;;
  esac
  ${RELEASE_HOST_LOCK}
fi
if [ -n "$lv" ]; then
  printf '%s\\n' "$lv" > ${HELPER_SYSCTL_PATH} || fail "cannot write $lv to ${HELPER_SYSCTL_PATH}"
fi
if [ -n "$mp" ]; then
  printf '%s' "$mp" > ${HELPER_PARAM_PATH} || fail "cannot write $mp to ${HELPER_PARAM_PATH}"
fi
${OBSERVE_BODY}`;

/** The positional arguments and standard input of {@link APPLY_SCRIPT} for a list of changes. */
export function applyArgs(path: string, changes: readonly Change[]): { args: string[]; stdin: string } {
  let fileAction = "keep";
  let stdin = "";
  let live = "";
  let param = "";
  let mode = "0644";
  for (const c of changes) {
    if (c.kind === "write-file") {
      fileAction = "write";
      stdin = c.content;
      if (c.mode !== undefined) {
        if (!/^[0-7]{3,4}$/.test(c.mode)) throw new TypeError(`file mode must be octal, got ${c.mode}`);
        mode = c.mode;
      }
    } else if (c.kind === "remove-file") {
      fileAction = "remove";
    } else if (c.kind === "set-live") {
      live = String(c.to);
    } else {
      param = c.to;
    }
  }
  return { args: [path, fileAction, live, param, mode, contentSha256(stdin)], stdin };
}

/** Runs {@link APPLY_SCRIPT} and checks that the host now shows every value it was given. */
export async function apply(conn: Connection, path: string, changes: readonly Change[]): Promise<HelperObservation> {
  const { args, stdin } = applyArgs(path, changes);
  const argv = script(APPLY_SCRIPT, args);
  const label = `apply nf_conntrack_helper: ${changes.map(describeChange).join("; ")}`;
  const r = await exec(conn, argv, { stdin, label });
  if (r.exitCode === EXIT.LOCK_TIMEOUT) throw lockTimeoutError(conn, label, r);
  if (r.exitCode !== EXIT.OK) {
    throw commandFailed(conn, argv, r, {
      label,
      hint: "nothing after the failing step was changed; fix the cause and run `pulumi up` again (it repairs the rest)",
    });
  }
  const after = parseObservation(r.stdout);
  const wrong = verify(after, changes);
  if (wrong.length) {
    throw new ConntrackError(`the host does not show what was written: ${wrong.join("; ")}`, {
      host: hostLabel(conn),
      command: label,
      hint: "something on the host rewrites the value (a boot script, a configuration agent, a container runtime); find and stop it, then run again",
    });
  }
  return after;
}

/** What the observation after apply contradicts of the changes just made. */
export function verify(after: HelperObservation, changes: readonly Change[]): string[] {
  const wrong: string[] = [];
  for (const c of changes) {
    if (c.kind === "set-live" && after.live !== c.to)
      wrong.push(`${HELPER_SYSCTL_PATH} reads ${after.live ?? "nothing"} after writing ${c.to}`);
    if (c.kind === "set-module-parameter" && after.moduleParameter !== c.to)
      wrong.push(`${HELPER_PARAM_PATH} reads ${after.moduleParameter ?? "nothing"} after writing ${c.to}`);
    if (c.kind === "write-file" && (after.file.kind !== "file" || after.file.content !== c.content))
      wrong.push(`${c.path} does not hold the content written`);
    if (c.kind === "remove-file" && after.file.kind !== "absent") wrong.push(`${c.path} still exists after removal`);
  }
  return wrong;
}

import { readBackError } from "../../common/read-back";
import type { Connection } from "../../connection/schema";
import { commandFailed, exec, script } from "../../transport/exec";
import { EXIT } from "../../transport/exit-codes";
import { ATOMIC_WRITE_FUNCTIONS, contentSha256 } from "../../transport/files";
import { lockTimeoutError, RELEASE_HOST_LOCK, TAKE_HOST_LOCK } from "../../transport/host-lock";
import { describeChange, type Change, type RecordAction } from "./plan";
import { previousTextFunction } from "./previous-record";
import { recordStepSh } from "../../common/previous-record";
import { HELPER_PARAM_PATH, HELPER_SYSCTL_PATH, OBSERVE_BODY, parseObservation, type HelperObservation } from "./observe";

/**
 * Makes the changes, then observes again in the same round trip so that outputs report what the
 * host shows afterwards. Positional parameters: `$1` managed path, `$2` file action
 * (`keep`/`write`/`remove`; `write` takes the content on stdin), `$3` live value or empty, `$4`
 * module parameter (`Y`/`N`) or empty, `$5` mode of a file `write` creates, `$6` sha256 of the
 * content (standard input that did not arrive whole is not written), `$7` path of the host-side
 * record of the previous values, `$8` what to do with it ({@link RecordAction}).
 *
 * Order: under the host lock, the record first (what the host has right before the first change,
 * read here rather than sent, so that it is never older than the change), then the file, the live
 * value, the module parameter, and last the record's removal (delete). The file is changed before
 * the live value: if a live write then fails, the next run still finds the persisted value right
 * and only repairs the live one. A run that fails before changing anything also removes a record
 * it made, so that the host is as it was.
 */
export const APPLY_SCRIPT = `m=$1; fa=$2; lv=$3; mp=$4; fm=$5; fsum=$6; r=$7; ra=$8
rmade=0; changed=0
fail() {
  if [ "$rmade" = 1 ] && [ "$changed" = 0 ]; then rm -f -- "$r"; fi
  printf 'pulumi-conntrack: %s\\n' "$*" >&2; exit 1
}
${ATOMIC_WRITE_FUNCTIONS}
${previousTextFunction(HELPER_SYSCTL_PATH, HELPER_PARAM_PATH)}
locked=0
if [ "$fa" != keep ] || [ "$ra" != keep ]; then
  # Other resources of this package rewrite files in /etc/modprobe.d on the same host in parallel.
${TAKE_HOST_LOCK}
  locked=1
fi
${recordStepSh({ fail: "fail", reads: "$m", writeFailed: "; nothing was changed", afterWrite: "rmade=1" })}
case "$fa" in
  keep) ;;
  write) ctk_write_file "$m" "$fm" "$fsum" || fail "cannot write $m"; changed=1 ;;
  remove) ctk_remove_file "$m" || fail "cannot remove $m"; changed=1 ;;
  *) fail "unknown file action $fa" ;;
esac
if [ -n "$lv" ]; then
  printf '%s\\n' "$lv" > ${HELPER_SYSCTL_PATH} || fail "cannot write $lv to ${HELPER_SYSCTL_PATH}"
  changed=1
fi
if [ -n "$mp" ]; then
  printf '%s' "$mp" > ${HELPER_PARAM_PATH} || fail "cannot write $mp to ${HELPER_PARAM_PATH}"
  changed=1
fi
if [ "$ra" = drop ]; then ctk_remove_file "$r" || fail "cannot remove $r"; fi
if [ "$locked" = 1 ]; then ${RELEASE_HOST_LOCK}; fi
${OBSERVE_BODY}`;

/** The positional arguments and standard input of {@link APPLY_SCRIPT} for a list of changes. */
export function applyArgs(
  path: string,
  changes: readonly Change[],
  record: { path: string; action: RecordAction } = { path: "", action: "keep" },
): { args: string[]; stdin: string } {
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
  if (record.action !== "keep" && !record.path) throw new TypeError(`record action ${record.action} needs the record's path`);
  return { args: [path, fileAction, live, param, mode, contentSha256(stdin), record.path, record.action], stdin };
}

/** Runs {@link APPLY_SCRIPT} and checks that the host now shows every value it was given. */
export async function apply(
  conn: Connection,
  path: string,
  changes: readonly Change[],
  record: { path: string; action: RecordAction } = { path: "", action: "keep" },
): Promise<HelperObservation> {
  const { args, stdin } = applyArgs(path, changes, record);
  const argv = script(APPLY_SCRIPT, args);
  const steps = changes.map(describeChange);
  if (record.action === "drop") steps.push(`remove ${record.path}`);
  const label = `apply nf_conntrack_helper: ${steps.join("; ")}`;
  const r = await exec(conn, argv, { stdin, label });
  if (r.exitCode === EXIT.LOCK_TIMEOUT) throw lockTimeoutError(conn, label, r);
  if (r.exitCode !== EXIT.OK) {
    throw commandFailed(conn, argv, r, {
      label,
      hint: "nothing after the failing step was changed; fix the cause and run `pulumi up` again (it repairs the rest)",
    });
  }
  const after = parseObservation(r.stdout);
  const wrong = verify(after, changes, record.action);
  if (wrong.length) throw readBackError(conn, label, wrong, "a boot script, a configuration agent, a container runtime");
  return after;
}

/** What the observation after apply contradicts of the changes just made. */
export function verify(after: HelperObservation, changes: readonly Change[], recordAction: RecordAction = "keep"): string[] {
  const wrong: string[] = [];
  const rec = after.previousRecord.kind;
  if ((recordAction === "make" || recordAction === "replace") && rec !== "record")
    wrong.push("the record of the earlier values was not written");
  if (recordAction === "drop" && rec !== "none") wrong.push("the record of the earlier values is still there after removal");
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

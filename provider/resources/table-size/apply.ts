import { readBackError } from "../../common/read-back";
import type { Connection } from "../../connection/schema";
import { commandFailed, exec, script } from "../../transport/exec";
import { EXIT } from "../../transport/exit-codes";
import { ATOMIC_WRITE_FUNCTIONS } from "../../transport/files";
import { lockTimeoutError, RELEASE_HOST_LOCK, TAKE_HOST_LOCK } from "../../transport/host-lock";
import { FILE_ROLES, MANAGED_PATHS } from "./managed-files";
import { HASHSIZE_PATH, NETFILTER_PROC, OBSERVE_SCRIPT_BODY, parseObservation, type TableObservation } from "./observe";
import { describeChange, liveBuckets, type Change } from "./plan";
import { previousTextFunctions } from "./previous-record";
import { recordStepSh, type RecordAction } from "../../common/previous-record";

/** A record this run replaces is copied first, so that a failure puts it back (as the files). */
const RECORD_BACKUP_SH = `if [ -e "$r" ]; then cp -p -- "$r" "$bk/f4" || die "cannot copy $r"; fi
printf '4 %s\\n' "$r" >> "$bk/files"`;

/**
 * Makes the changes all or nothing, then observes again in the same round trip. Positional
 * parameters: `$1` the path of the host-side record of previous values (empty: none), `$2` what
 * to do with it ({@link RecordAction}), then (see {@link applyArgs}) the managed paths (sysctl.d,
 * modprobe.d, udev), their actions (`keep`/`write`/`remove`), the contents to write, then pairs of
 * `/proc` or `/sys` path and value. Each value is read back after writing: a kernel that shows
 * another value (it rounded or clamped it) fails the run. On any failure everything this run
 * changed (values, files and the record) is put back from copies taken before, so the host is as
 * it was and the next run starts from the same observation.
 *
 * Order: under the host lock, the record first (what the host has right before the first change,
 * read here rather than sent, so that it is never older than the change), then the values, the
 * files, and last the record's removal (delete).
 */
export const APPLY_SCRIPT = `r=$1; ra=$2; shift 2
s1=$1; s2=$2; s3=$3; a1=$4; a2=$5; a3=$6; c1=$7; c2=$8; c3=$9
shift 9
fail() { printf 'pulumi-conntrack: %s\\n' "$*" >&2; exit 1; }
${ATOMIC_WRITE_FUNCTIONS}
${previousTextFunctions(NETFILTER_PROC, HASHSIZE_PATH)}
bk=$(mktemp -d /tmp/.ctk-table.XXXXXX) || fail "cannot create a temporary directory"
: > "$bk/live"; : > "$bk/files"
rollback() {
  while read -r p v; do printf '%s\\n' "$v" > "$p" 2>/dev/null; done < "$bk/live"
  while read -r i f; do
    if [ -f "$bk/f$i" ]; then cp -p -- "$bk/f$i" "$f.ctk-restore" && mv -f -- "$f.ctk-restore" "$f"; else rm -f -- "$f"; fi
  done < "$bk/files"
}
die() { rollback; rm -rf -- "$bk"; fail "$* (every change of this run was put back)"; }
${TAKE_HOST_LOCK}
${recordStepSh({ fail: "die", reads: "the managed files", writeFailed: "", beforeWrite: RECORD_BACKUP_SH })}
while [ $# -ge 2 ]; do
  p=$1; v=$2; shift 2
  old=$(cat -- "$p") || die "cannot read $p"
  # Newest first, so that rollback undoes in reverse order.
  { printf '%s %s\\n' "$p" "$old"; cat "$bk/live"; } > "$bk/live.new" && mv -f "$bk/live.new" "$bk/live"
  printf '%s\\n' "$v" > "$p" || die "cannot write $v to $p"
  got=$(cat -- "$p")
  [ "$got" = "$v" ] || die "$p shows $got after writing $v: the kernel adjusted the value"
done
i=0
for f in "$s1" "$s2" "$s3"; do
  i=$((i + 1))
  eval "a=\\$a$i; c=\\$c$i"
  [ "$a" = keep ] && continue
  if [ -e "$f" ]; then cp -p -- "$f" "$bk/f$i" || die "cannot copy $f"; fi
  printf '%s %s\\n' "$i" "$f" >> "$bk/files"
  case "$a" in
    # The content is an argument here (it arrived whole with the command line): its own sum is the check.
    write) ctk_write_text "$f" 0644 "$c" || die "cannot write $f" ;;
    remove) ctk_remove_file "$f" || die "cannot remove $f" ;;
    *) die "unknown file action $a" ;;
  esac
  case "$f" in *.rules) udevadm control --reload >/dev/null 2>&1 || true ;; esac
done
if [ "$ra" = drop ]; then ctk_remove_file "$r" || die "cannot remove $r"; fi
rm -rf -- "$bk"
${RELEASE_HOST_LOCK}
set -- "$s1" "$s2" "$s3"
${OBSERVE_SCRIPT_BODY}`;

/** The path a change writes its value to. */
function livePath(c: Extract<Change, { kind: "set-sysctl" | "set-buckets" }>): string {
  if (c.kind === "set-buckets") return c.via === "sysfs" ? HASHSIZE_PATH : `${NETFILTER_PROC}/nf_conntrack_buckets`;
  if (!/^nf_conntrack_[a-z0-9_]+$/.test(c.key)) throw new TypeError(`not a conntrack sysctl: ${c.key}`);
  return `${NETFILTER_PROC}/${c.key}`;
}

/** The positional arguments of {@link APPLY_SCRIPT} for a list of changes. */
export function applyArgs(changes: readonly Change[]): string[] {
  const actions = { sysctl: "keep", modprobe: "keep", udev: "keep" };
  const contents = { sysctl: "", modprobe: "", udev: "" };
  const live: string[] = [];
  for (const c of changes) {
    if (c.kind === "write-file") {
      actions[c.role] = "write";
      contents[c.role] = c.content;
    } else if (c.kind === "remove-file") actions[c.role] = "remove";
    else live.push(livePath(c), String(c.to));
  }
  return [...FILE_ROLES.map((r) => MANAGED_PATHS[r]), ...FILE_ROLES.map((r) => actions[r]), ...FILE_ROLES.map((r) => contents[r]), ...live];
}

/** The host-side record an apply writes, keeps or removes; none by default. */
export interface RecordStep {
  path: string;
  action: RecordAction;
}

/** Runs {@link APPLY_SCRIPT} and checks that the host now shows every value it was given. */
export async function apply(
  conn: Connection,
  changes: readonly Change[],
  record: RecordStep = { path: "", action: "keep" },
): Promise<TableObservation> {
  if (record.action !== "keep" && !record.path) throw new TypeError(`record action ${record.action} needs the record's path`);
  const argv = script(APPLY_SCRIPT, [record.path, record.action, ...applyArgs(changes)]);
  const steps = changes.map(describeChange);
  if (record.action === "drop") steps.push(`remove ${record.path}`);
  const label = `apply conntrack table size: ${steps.join("; ")}`;
  const r = await exec(conn, argv, { label });
  if (r.exitCode === EXIT.LOCK_TIMEOUT) throw lockTimeoutError(conn, label, r);
  if (r.exitCode !== EXIT.OK) {
    throw commandFailed(conn, argv, r, { label, hint: "the host was left as it was; fix the cause and run `pulumi up` again" });
  }
  const after = parseObservation(r.stdout);
  const wrong = verify(after, changes, record.action);
  if (wrong.length) throw readBackError(conn, label, wrong, "a boot script, a configuration agent, kube-proxy");
  return after;
}

/** What the observation after apply contradicts of the changes just made. */
export function verify(after: TableObservation, changes: readonly Change[], recordAction: RecordAction = "keep"): string[] {
  const wrong: string[] = [];
  const rec = after.previousRecord.kind;
  if ((recordAction === "make" || recordAction === "replace") && rec !== "record")
    wrong.push("the record of the earlier values was not written");
  if (recordAction === "drop" && rec !== "none") wrong.push("the record of the earlier values is still there after removal");
  for (const c of changes) {
    if (c.kind === "set-buckets" && liveBuckets(after) !== c.to)
      wrong.push(`the hash size reads ${liveBuckets(after) ?? "nothing"} after writing ${c.to}`);
    if (c.kind === "set-sysctl") {
      const got = c.key === "nf_conntrack_max" ? after.max?.value : after.timeouts[c.key]?.value;
      if (got !== c.to) wrong.push(`net.netfilter.${c.key} reads ${got ?? "nothing"} after writing ${c.to}`);
    }
    const f = c.kind === "write-file" || c.kind === "remove-file" ? after.files[c.role] : undefined;
    if (c.kind === "write-file" && (f?.kind !== "file" || f.content !== c.content))
      wrong.push(`${c.path} does not hold the content written`);
    if (c.kind === "remove-file" && f?.kind !== "absent") wrong.push(`${c.path} still exists after removal`);
  }
  return wrong;
}

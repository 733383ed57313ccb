import type { Connection } from "../../connection/schema";
import { hostLabel } from "../../connection/schema";
import { RemoteCommandError } from "../../errors";
import { commandFailed, exec, script } from "../../transport/exec";
import type { Observation } from "../../transport/snapshot";
import { EXIT } from "../../transport/exit-codes";
import { KERNEL_RELEASE } from "../../transport/facts";
import { ATOMIC_WRITE_FUNCTIONS, contentSha256 } from "../../transport/files";
import { lockTimeoutError, TAKE_HOST_LOCK } from "../../transport/host-lock";
import { variantOf } from "./host/backend";
import type { Family } from "./syntax/address";
import type { Plan } from "./plan";
import { renderLiveBatch } from "./batch/render";
import { RAW_TABLE_SHELL_FUNCTIONS } from "./host/raw-table";
import { SHELL_FUNCTIONS } from "./host/shell";
import { CONF_DIR_FUNCTIONS, modprobeGrepWord } from "../../transport/conf-dirs";

/**
 * The apply script: under the host lock (`transport/host-lock.ts`; exit {@link EXIT.LOCK_TIMEOUT} when another run holds it too long), check that the live ruleset and the file are still what
 * the plan was computed from (else exit {@link EXIT.CONFLICT} and change nothing), apply the live batch atomically,
 * then replace the saved-ruleset file atomically (temporary file + rename; an existing file keeps
 * its mode and owner). The temporary file is written before anything changes, so a file system that
 * refuses it (read-only `/etc`, full disk) fails the apply with nothing changed (exit {@link EXIT.FILE_PREP_FAILED}); only the
 * final rename can fail after the live batch (exit {@link EXIT.FILE_WRITE_FAILED}). Temporary files that a killed earlier run
 * left next to the file are removed under the lock. Hang-up and broken-pipe signals are ignored: a
 * client that goes away mid-apply does not leave half an apply behind; the run completes, and the
 * retry finds (and takes over) what it did. When the plan says the batch empties built-in chains of iptables-nft's raw
 * table, they and then the table are removed right after the batch, still under the lock, if they
 * are then empty and default (see `raw-table.ts`); best effort, since the rules are already gone and
 * an empty default chain changes no packet.
 *
 * `$1` family (4|6), `$2` backend (iptables|nftables), `$3` iptables variant, `$4` live batch,
 * `$5` guard (""|iptables|nft), `$6` `$7` expected hashes (PREROUTING and OUTPUT lines, or the nft
 * table), `$8` file path, `$9` expected file sha256 (or `absent`), `${10}` mode of a new file, or
 * `remove` to remove the file, `${11}` the raw table's built-in chains the batch empties (space-separated),
 * `${12}` the new content's sha256. The new file content is standard input; it is checked against
 * `${12}` before anything changes, so a run whose client went away before sending all of it changes
 * nothing (exit {@link EXIT.INPUT_INCOMPLETE}) instead of installing the part that arrived. `${13}` the helper
 * modules to load (space-separated) right before the live batch, after the checks: one that fails to
 * load stops the run with nothing else changed (exit {@link EXIT.MODULE_LOAD_FAILED}). `${14}` an ERE and `${15}` the sha256 of
 * the modprobe.d lines it found when the host was read (the plan's `modprobeGuard`): when the lines
 * found under the lock differ, the run changes nothing (exit {@link EXIT.CONFLICT}), so a ModuleBlacklist
 * of the conntrack core written since the read is seen (the next plan refuses the rule). Values are
 * positional parameters; the text is fixed.
 */
export const APPLY_SCRIPT = `${KERNEL_RELEASE}
${SHELL_FUNCTIONS}
${RAW_TABLE_SHELL_FUNCTIONS}
${ATOMIC_WRITE_FUNCTIONS}
${CONF_DIR_FUNCTIONS}
fam=$1 backend=$2 variant=$3 batch=$4 guard=$5 h1=$6 h2=$7 file=$8 fsum=$9 fmode=\${10} emptied=\${11} csum=\${12} mods=\${13:-} gere=\${14:-} gsum=\${15:-}
trap '' HUP PIPE
${TAKE_HOST_LOCK}
if [ -n "$file" ]; then
  ctk_path_split "$file"; d=$_ctkd
  # Under the lock no other run of this script is writing: a temporary file of this file is a
  # leftover of a run that was killed.
  ctk_tmp_sweep "$file"
  if [ "$fmode" != remove ]; then
    tmp=$(ctk_tmp_new "$file") || exit ${EXIT.FILE_PREP_FAILED}
    trap 'rm -f -- "$tmp"' EXIT
    trap 'rm -f -- "$tmp"; exit 1' INT TERM
    ctk_tmp_fill "$tmp" "$csum"; rc=$?
    [ "$rc" = ${EXIT.INPUT_INCOMPLETE} ] && exit ${EXIT.INPUT_INCOMPLETE}
    [ "$rc" = ${EXIT.OK} ] || exit ${EXIT.FILE_PREP_FAILED}
    # A full disk shows here, before anything changed, not after the live batch.
    sync -- "$tmp" 2>/dev/null || true
  elif [ -e "$file" ] && [ ! -w "$d" ]; then
    echo "cannot remove $file: $d is not writable" >&2; exit ${EXIT.FILE_PREP_FAILED}
  fi
fi
case "$guard" in
  iptables)
    save=$(ctk_ipt_raw_save "$variant" "$fam") || exit ${EXIT.LIVE_FAILED}
    c1=$(printf '%s\\n' "$save" | ctk_chain_hash PREROUTING)
    c2=$(printf '%s\\n' "$save" | ctk_chain_hash OUTPUT)
    if [ "$c1" != "$h1" ] || [ "$c2" != "$h2" ]; then echo "conflict: the raw table changed since it was read" >&2; exit ${EXIT.CONFLICT}; fi ;;
  nft)
    ctk_out_sum ctk_nft_table
    if [ "$_ctks" != "$h1" ]; then echo "conflict: table inet pulumi_conntrack changed since it was read" >&2; exit ${EXIT.CONFLICT}; fi ;;
esac
if [ -n "$file" ]; then
  if [ -e "$file" ]; then cur=$(sha256sum < "$file"); cur=\${cur%% *}; else cur=absent; fi
  if [ "$cur" != "$fsum" ]; then echo "conflict: $file changed since it was read" >&2; exit ${EXIT.CONFLICT}; fi
fi
if [ -n "$gere" ]; then
  ctk_out_sum ${modprobeGrepWord('"$gere"')}
  if [ "$_ctks" != "$gsum" ]; then echo "conflict: the modprobe.d lines that can keep conntrack out changed since they were read" >&2; exit ${EXIT.CONFLICT}; fi
fi
# A helper rule needs its helper in the kernel: the kernel would ask modprobe for its alias itself,
# but a failure there reads "No such file or directory"; loaded here, a failure says which module.
# Word splitting is wanted: module names from a fixed set, separated by spaces.
# shellcheck disable=SC2086
for m in $mods; do
  [ -e "/sys/module/$m/initstate" ] && continue
  modprobe -- "$m" || { echo "modprobe $m failed" >&2; exit ${EXIT.MODULE_LOAD_FAILED}; }
done
if [ -n "$batch" ]; then
  if [ "$backend" = nftables ]; then
    printf '%s' "$batch" | nft -f - || exit ${EXIT.LIVE_FAILED}
  else
    r=$(ctk_ipt_bin "$variant" "$fam" restore)
    # The legacy variant rewrites whole tables under the xtables lock: wait for it (-w) where the
    # binary knows the option; the nf_tables variant needs no lock.
    # The probe reads the usage text, which the tool prints on stderr; it decides an option, it is
    # never taken for rules.
    if [ "$variant" = legacy ] && "$r" --help 2>&1 | grep -q -e '--wait'; then
      printf '%s' "$batch" | "$r" -w 60 --noflush || exit ${EXIT.LIVE_FAILED}
    else
      printf '%s' "$batch" | "$r" --noflush || exit ${EXIT.LIVE_FAILED}
    fi
    # Only the nf_tables variant's tables can go (legacy tables belong to the kernel module). The
    # check right before the delete is what protects other programs' rules; they do not take this
    # lock, so the window between the two is as short as it can be made.
    if [ -n "$emptied" ] && [ "$variant" = nft ] && command -v nft >/dev/null 2>&1; then
      if [ "$fam" = 6 ]; then nf=ip6; else nf=ip; fi
      # Word splitting is wanted: chain names from a fixed set, separated by spaces.
      # shellcheck disable=SC2086
      ctk_raw_drop "$nf" $emptied
    fi
  fi
fi
if [ -n "$file" ] && [ "$fmode" = remove ]; then
  rm -f -- "$file" || exit ${EXIT.FILE_WRITE_FAILED}
elif [ -n "$file" ]; then
  ctk_tmp_commit "$tmp" "$file" "$fmode" || exit ${EXIT.FILE_WRITE_FAILED}
  trap - EXIT
fi
exit 0`;

/** The argument vector and standard input that carry out a plan, and the live batch's text in it. */
export function applyInvocation(family: Family, p: Plan): { argv: string[]; stdin: Buffer; batch: string } {
  const live = p.live;
  const guard = live?.guard;
  const hashes =
    guard?.kind === "iptables"
      ? [guard.hashes.PREROUTING ?? "", guard.hashes.OUTPUT ?? ""]
      : guard?.kind === "nft"
        ? [guard.hash, ""]
        : ["", ""];
  const backend = live?.backend;
  const stdin = Buffer.from(p.file?.content ?? "", "latin1");
  // The only place the batch becomes text.
  const batch = live ? renderLiveBatch(live) : "";
  const args = [
    family === "ipv6" ? "6" : "4",
    backend === "nftables" ? "nftables" : "iptables",
    variantOf(backend) ?? "",
    batch,
    guard?.kind ?? "",
    ...hashes,
    p.file?.path ?? "",
    p.file?.expectedSha256 ?? "",
    p.file ? (p.file.content === null ? "remove" : p.file.mode) : "",
    (live?.emptiedChains ?? []).join(" "),
    contentSha256(stdin),
    // Only when there is a module to load or a modprobe.d guard: a plan without them keeps its twelve parameters.
    ...(p.modules?.length || p.modprobeGuard ? [(p.modules ?? []).join(" ")] : []),
    ...(p.modprobeGuard ? [p.modprobeGuard.ere, p.modprobeGuard.sha256] : []),
  ];
  return { argv: script(APPLY_SCRIPT, args), stdin, batch };
}

function dirOf(path: string | undefined): string {
  if (!path) return "the directory";
  const i = path.lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : "/";
}

/** Hints for the ways a live batch fails that the kernel explains badly. */
function liveHint(stderr: string, p: Plan): string {
  const helpers = (p.live?.ops ?? []).flatMap((op) =>
    (op.op === "add" || op.op === "replace") && op.rule.spec.helper ? [op.rule.spec.helper] : [],
  );
  if (helpers.length > 0 && /No such file or directory|Couldn't load target|syntax error|Operation not supported/i.test(stderr)) {
    return `the kernel cannot find the ${[...new Set(helpers)].join(", ")} helper or the CT/ct helper support: check that nf_conntrack_<helper>, xt_CT or nft_ct exist for this kernel and that no /etc/modprobe.d line keeps them out; a "syntax error" from nft means nft is older than 0.8 (no ct helper objects): use backend: "iptables"`;
  }
  if (
    /Couldn't load target|No chain\/target\/match|Could not process rule: (No such file or directory|Operation not supported)|unknown option "--notrack"/i.test(
      stderr,
    )
  ) {
    return "the kernel cannot load the conntrack parts of the rule (nf_conntrack, xt_CT or nft_ct): check /etc/modprobe.d for an `install <module> /bin/false` line of nf_conntrack, nf_defrag_ipv4/6, xt_CT or nft_ct (a ModuleBlacklist) and that the modules exist for this kernel";
  }
  if (/Another app is currently holding the xtables lock/.test(stderr))
    return "another program held the xtables lock for over 60 s; retry when it is done";
  return "the batch was applied atomically, so nothing changed; the text above is the tool's own reason";
}

/**
 * Runs the plan on the host in one command. Resolves `"conflict"` when the host changed since it
 * was observed (nothing was changed; observe again and re-plan), `"done"` otherwise.
 */
export async function applyPlan(
  conn: Connection,
  family: Family,
  p: Plan,
  then: readonly Observation[] = [],
): Promise<"done" | "conflict"> {
  const { argv, stdin, batch: text } = applyInvocation(family, p);
  const what = [p.live ? `${p.live.backend} batch` : "", p.file ? `write ${p.file.path}` : ""].filter(Boolean).join(" + ");
  const label = `apply NOTRACK rule change (${what})`;
  const r = await exec(conn, argv, { stdin, label, then });
  if (r.exitCode === EXIT.OK) return "done";
  if (r.exitCode === EXIT.CONFLICT) return "conflict";
  if (r.exitCode === EXIT.LIVE_FAILED) {
    const batch = text.trim().split("\n").join(" \\n ");
    throw new RemoteCommandError(`the ${p.live?.backend} batch was refused: ${r.stderr.trim() || "(no message)"}`, r, {
      host: hostLabel(conn),
      command: `${p.live?.backend === "nftables" ? "nft -f -" : "iptables-restore --noflush"} <<< ${batch}`,
      hint: liveHint(r.stderr, p),
    });
  }
  if (r.exitCode === EXIT.FILE_PREP_FAILED) {
    throw new RemoteCommandError(
      `nothing was changed on the host: ${p.file?.path} cannot be written (${r.stderr.trim() || "no message"}), and a rule and its saved copy are changed together`,
      r,
      {
        host: hostLabel(conn),
        command: `write ${p.file?.path} (checked before the live change)`,
        hint: `make ${dirOf(p.file?.path)} writable (a read-only or full file system? sudo: true for a non-root user), or set persist: false on rules that need not survive a reboot; then run \`pulumi up\` again`,
      },
    );
  }
  if (r.exitCode === EXIT.FILE_WRITE_FAILED) {
    throw new RemoteCommandError(
      `the live change was applied but ${p.file?.path} could not be replaced (${r.stderr.trim() || "no message"}): the saved ruleset still has the previous state`,
      r,
      {
        host: hostLabel(conn),
        command: `${p.file?.content === null ? "remove" : "replace"} ${p.file?.path}`,
        hint: `make ${dirOf(p.file?.path)} writable, then run \`pulumi up\` again: it finds the live rule and saves it`,
      },
    );
  }
  if (r.exitCode === EXIT.INPUT_INCOMPLETE) {
    throw new RemoteCommandError(`nothing was changed on the host: the new content of ${p.file?.path} did not arrive whole`, r, {
      host: hostLabel(conn),
      command: `write ${p.file?.path} (checked before the live change)`,
      hint: "the connection lost part of the input; run `pulumi up` again",
    });
  }
  if (r.exitCode === EXIT.MODULE_LOAD_FAILED) {
    throw new RemoteCommandError(
      `nothing was changed on the host: a conntrack helper module could not be loaded (${r.stderr.trim() || "no message"})`,
      r,
      {
        host: hostLabel(conn),
        command: `modprobe ${(p.modules ?? []).join(" ")}`,
        hint: "check that the module exists for the running kernel (modinfo) and that no /etc/modprobe.d line (install ... /bin/false) or module signing policy keeps it out; then run `pulumi up` again",
      },
    );
  }
  if (r.exitCode === EXIT.LOCK_TIMEOUT) throw lockTimeoutError(conn, label, r);
  throw commandFailed(conn, argv, r, { label });
}

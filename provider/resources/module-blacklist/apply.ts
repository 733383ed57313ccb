import type { Connection } from "../../connection/schema";
import { commandFailed, exec, script } from "../../transport/exec";
import { EXIT } from "../../transport/exit-codes";
import { ATOMIC_WRITE_FUNCTIONS, contentSha256 } from "../../transport/files";
import { lockTimeoutError, RELEASE_HOST_LOCK, TAKE_HOST_LOCK } from "../../transport/host-lock";
import { parseKeyValues, parseSections, sectionStart } from "../../transport/sections";
import { OBSERVE_FUNCTION } from "./observe";
import { observationFromSections, type Observation } from "./observation";
import { helperUseEre } from "./helper-guard";
import { parseNotrackScan, type ManagedNotrackRule } from "./notrack-guard";

/** What to do to the managed path. */
export type FileAction =
  | { kind: "keep" }
  | { kind: "remove" }
  /** Write these bytes atomically; a new file gets `mode`, an existing one keeps its mode and owner. */
  | { kind: "write"; bytes: Buffer; mode: string };

/** One apply: file, initramfs, unload, in this order, in one remote command. */
export interface ApplyRequest {
  path: string;
  file: FileAction;
  /** Regenerate the running kernel's initramfs with this tool. */
  regenerate: "update-initramfs" | "dracut" | null;
  /** Look again, under the lock and before any change, for NotrackRules; stop if there are any. */
  guardNotrack: boolean;
  /**
   * Listed helper modules: look again, under the lock and before any change, for managed rules that
   * attach one of their helpers; stop if there are any. (Subsumed by `guardNotrack`.)
   */
  guardHelpers: readonly string[];
  /** Modules to `modprobe -r`, in this order (each only if still loaded). */
  unload: readonly string[];
  /** The listed modules, for the observation that closes the script. */
  modules: readonly string[];
}

/** The outcome of `modprobe -r` for one module. */
export interface UnloadOutcome {
  module: string;
  /** `removed`; `gone`: already unloaded (as a dependency of an earlier one); `failed`; `skipped` after a failure. */
  outcome: "removed" | "gone" | "failed" | "skipped";
  /** modprobe's message when it failed. */
  message: string;
}

/** What apply did, and the host as observed right after. */
export interface ApplyResult {
  /** Managed rules found under the lock that need a listed module: nothing was changed. */
  conflict: ManagedNotrackRule[] | null;
  /** The file step failed: nothing after it was done. */
  fileError: string | null;
  /** Regeneration ran: its exit code and last lines of output. */
  initramfs: { exitCode: number; output: string } | null;
  unload: UnloadOutcome[];
  /** Modules loaded before the unload step, to tell which left the kernel. */
  loadedBefore: string[];
  after: Observation;
}

/**
 * The apply script. Positional parameters: $1 path, $2 mode of a new file, $3 keep|remove|write,
 * $4 tool or "-", $5 guard: an extended regex of the
 * `ctk_notrack_scan` rows that conflict (`.`: every managed rule), or "-" for no check, $6 sha256 of the file's bytes, $7 number of modules to unload,
 * then those modules in order, then the listed modules. The file's bytes arrive on standard input
 * (not written unless they arrived whole). Every step reports in its own section; the script ends
 * with an observation, so outputs are read back rather than assumed.
 */
export const APPLY_SCRIPT = `${OBSERVE_FUNCTION}
${ATOMIC_WRITE_FUNCTIONS}
ctk_loaded() {
  for d in /sys/module/*; do [ -e "$d/initstate" ] && printf '%s\\n' "\${d##*/}"; done
  return 0
}
f=$1; fmode=$2; action=$3; regen=$4; guard=$5; fsum=$6; n=$7; shift 7
order=
while [ "$n" -gt 0 ]; do order="$order $1"; shift; n=$((n - 1)); done
${TAKE_HOST_LOCK}
if [ "$guard" != - ]; then
  rules=$(ctk_notrack_scan | grep -E -- "$guard")
  if [ -n "$rules" ]; then
${sectionStart("apply.conflict")}
    printf '%s\\n' "$rules"
    ctk_observe "$f" 0 0 "$@"
    exit 0
  fi
fi
${sectionStart("apply.file")}
case $action in
  write) err=$(ctk_write_file "$f" "$fmode" "$fsum" 2>&1) || { echo "error=$(printf '%s' "$err" | tr '\\n' ' ')"; ctk_observe "$f" 0 0 "$@"; exit 0; } ;;
  remove) err=$(ctk_remove_file "$f" 2>&1) || { echo "error=$(printf '%s' "$err" | tr '\\n' ' ')"; ctk_observe "$f" 0 0 "$@"; exit 0; } ;;
esac
echo ok=1
# The lock guards the check-then-write against a NotrackRule or ConntrackHelperRule being added; the slow steps run without it.
${RELEASE_HOST_LOCK}
if [ "$regen" != - ]; then
${sectionStart("apply.initramfs")}
  if [ "$regen" = dracut ]; then out=$(dracut -f --kver "$ctk_kr" 2>&1); else out=$(update-initramfs -u -k "$ctk_kr" 2>&1); fi
  rc=$?
  echo "rc=$rc"
  printf '%s\\n' "$out" | tail -n 15 | sed 's/^/out=/'
  [ "$rc" = 0 ] || { ctk_observe "$f" 0 0 "$@"; exit 0; }
fi
if [ -n "$order" ]; then
${sectionStart("apply.before")}
  ctk_loaded
${sectionStart("apply.unload")}
  set -f
  failed=0
  for m in $order; do
    if [ "$failed" = 1 ]; then printf '%s\\tskipped\\t\\n' "$m"; continue; fi
    if [ ! -e "/sys/module/$m/initstate" ]; then printf '%s\\tgone\\t\\n' "$m"; continue; fi
    if out=$(modprobe -r -- "$m" 2>&1); then printf '%s\\tremoved\\t\\n' "$m"
    else failed=1; printf '%s\\tfailed\\t%s\\n' "$m" "$(printf '%s' "$out" | tr '\\n\\t' '  ')"; fi
  done
  set +f
fi
ctk_observe "$f" 0 0 "$@"`;

/**
 * Makes the changes in one remote command: under the host lock (`transport/host-lock.ts`), checks
 * again for managed rules that need a listed module when asked, writes or removes the file, regenerates the initramfs, then
 * unloads in the given order, stopping at the first refusal. Returns what happened and the host
 * as observed right after; throws only when the command itself could not run.
 */
export async function apply(conn: Connection, req: ApplyRequest): Promise<ApplyResult> {
  const mode = req.file.kind === "write" ? req.file.mode : "0644";
  const args = [
    req.path,
    /^[0-7]{3,4}$/.test(mode) ? mode : "0644",
    req.file.kind,
    req.regenerate ?? "-",
    req.guardNotrack ? "." : (helperUseEre(req.guardHelpers) ?? "-"),
    contentSha256(req.file.kind === "write" ? req.file.bytes : ""),
    String(req.unload.length),
    ...req.unload,
    ...req.modules,
  ];
  const argv = script(APPLY_SCRIPT, args);
  const steps = [
    req.file.kind === "keep" ? "" : `${req.file.kind} ${req.path}`,
    req.regenerate ? `regenerate the initramfs (${req.regenerate})` : "",
    req.unload.length ? `modprobe -r ${req.unload.join(" ")}` : "",
  ].filter(Boolean);
  const label = steps.join(", then ") || `check ${req.path}`;
  // Regenerating an initramfs takes minutes on a slow host; a failure is reported, not timed out.
  const r = await exec(conn, argv, {
    label,
    stdin: req.file.kind === "write" ? req.file.bytes : undefined,
    timeoutMs: req.regenerate ? 1_200_000 : 300_000,
  });
  if (r.exitCode === EXIT.LOCK_TIMEOUT) throw lockTimeoutError(conn, label, r);
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, { label, hint: "check that the user is root or has passwordless sudo (sudo: true)" });
  return parseApplyOutput(r.stdout);
}

/** Parses the apply script's output. Pure. */
export function parseApplyOutput(stdout: string): ApplyResult {
  const sections = parseSections(stdout);
  const conflict = sections.get("apply.conflict");
  const file = parseKeyValues(sections.get("apply.file") ?? "");
  const ir = sections.get("apply.initramfs");
  let initramfs: ApplyResult["initramfs"] = null;
  if (ir !== undefined) {
    const kv = parseKeyValues(ir);
    const output = ir
      .split("\n")
      .filter((l) => l.startsWith("out="))
      .map((l) => l.slice(4))
      .join("\n");
    initramfs = { exitCode: Number(kv.get("rc") ?? -1), output };
  }
  const unload: UnloadOutcome[] = [];
  for (const row of (sections.get("apply.unload") ?? "").split("\n")) {
    const [module, outcome, message] = row.split("\t");
    if (!module || !["removed", "gone", "failed", "skipped"].includes(outcome)) continue;
    unload.push({ module, outcome: outcome as UnloadOutcome["outcome"], message: message ?? "" });
  }
  return {
    conflict: conflict === undefined ? null : parseNotrackScan(conflict),
    fileError:
      sections.has("apply.file") && file.get("ok") !== "1"
        ? file.get("error") || "the file step did not finish"
        : conflict === undefined && !sections.has("apply.file")
          ? "the file step did not run"
          : null,
    initramfs,
    unload,
    loadedBefore: (sections.get("apply.before") ?? "").split("\n").filter(Boolean),
    after: observationFromSections(sections),
  };
}

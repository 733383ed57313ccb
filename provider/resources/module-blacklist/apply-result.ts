import { ConflictError, ConntrackError, RemoteCommandError } from "../../errors";
import type { ApplyResult, FileAction } from "./apply";
import { helperModulesInUse } from "./helper-guard";
import { notrackDependenciesIn } from "./notrack-guard";
import type { Observation } from "./observation";
import { outputsFrom, type ModuleBlacklistOutputs } from "./outputs";
import type { DeletePlan, Plan, Regeneration } from "./plan";
import type { ModuleBlacklistInputs } from "./schema";

/**
 * What a failed create or update must put back before it reports: the file as observed before,
 * and the initramfs regenerated again with `regenerated` when the failed attempt did.
 */
export interface Undo {
  regenerated: Regeneration | null;
}

/**
 * How a create or update ended, judged from the plan and the apply result. `error` takes what the
 * rollback did (`undone`, from {@link rollbackReport}); null when `undo` is null and nothing was
 * put back. Errors that never change the host (a conflict, a failed file step) ignore it.
 */
export type ConvergeVerdict =
  | { ok: true; outputs: ModuleBlacklistOutputs }
  | { ok: false; undo: Undo | null; error: (undone: string | null) => ConntrackError };

/** What {@link judgeConverge} judges. */
export interface ConvergeOutcome {
  host: string;
  path: string;
  inputs: ModuleBlacklistInputs;
  /** The observation the plan was computed from. */
  observed: Observation;
  plan: Plan;
  /** The apply command's result; undefined when the plan had nothing to apply. */
  result: ApplyResult | undefined;
}

/** The regeneration command as an operator runs it by hand. */
function regenerateCommand(tool: Regeneration["tool"] | undefined, kver: boolean): string {
  if (tool === "dracut") return kver ? "dracut -f --kver $(uname -r)" : "dracut -f";
  return kver ? "update-initramfs -u -k $(uname -r)" : "update-initramfs -u";
}

function indented(output: string): string {
  return output.split("\n").join("\n    ");
}

/** Where a module leaves the kernel: the planned sequence (holders first), then any other, sorted. */
export function unloadedInOrder(sequence: readonly string[], gone: readonly string[]): string[] {
  return [...sequence.filter((m) => gone.includes(m)), ...gone.filter((m) => !sequence.includes(m)).sort()];
}

/**
 * Judges a create or update after apply (or without one): a NotrackRule or ConntrackHelperRule
 * that appeared under the lock, a failed file step, a failed regeneration, modules still loaded though `unload` is set;
 * otherwise the outputs from the closing observation. Pure.
 */
export function judgeConverge(o: ConvergeOutcome): ConvergeVerdict {
  const { host, path, inputs, observed: obs, plan: p, result } = o;
  const notChanged = `${path} was not changed`;
  // The apply script's closing observation does not list the initramfs again (seconds); the one
  // listed before still holds when nothing regenerated it, and "never" needs it for effective.
  const after: Observation = result ? { ...result.after, initramfs: result.after.initramfs ?? (p.regenerate ? null : obs.initramfs) } : obs;
  if (result?.conflict && result.conflict.length > 0) {
    const needed = notrackDependenciesIn(inputs.modules);
    const helpers = helperModulesInUse(result.conflict, inputs.modules);
    const message =
      needed.length > 0
        ? `a NotrackRule of pulumi-conntrack appeared on this host while planning, and it needs ${needed.join(", ")}; nothing was changed`
        : `a ConntrackHelperRule of pulumi-conntrack appeared on this host while planning, and it needs ${helpers.map((u) => u.module).join(", ")}; nothing was changed:\n    ${result.conflict.map((r) => `${r.source}: ${r.rule}`).join("\n    ")}`;
    return {
      ok: false,
      undo: null,
      error: () =>
        new ConflictError(message, {
          host,
          command: `write ${path}`,
          hint:
            needed.length > 0
              ? "remove those modules from modules, or delete the NotrackRule resources on this host first"
              : "remove those modules from modules, or delete the ConntrackHelperRule resources that use them on this host first",
        }),
    };
  }
  if (result?.fileError) {
    const fileError = result.fileError;
    return {
      ok: false,
      undo: null,
      error: () =>
        new ConntrackError(`could not write ${path}: ${fileError}; nothing else was done`, {
          host,
          command: `write ${path}`,
          hint: "check that /etc/modprobe.d is writable (root, or sudo: true)",
        }),
    };
  }
  // update-initramfs's or dracut's own exit code (not one of transport/exit-codes.ts): 0 is success.
  if (result?.initramfs && result.initramfs.exitCode !== 0) {
    const ir = result.initramfs;
    return {
      ok: false,
      undo: p.write !== null ? { regenerated: null } : null,
      error: (undone) =>
        new RemoteCommandError(
          `regenerating the initramfs failed (exit ${ir.exitCode}); nothing was unloaded; ${undone ?? notChanged}:\n    ${indented(ir.output)}`,
          { exitCode: ir.exitCode, stdout: ir.output, stderr: "" },
          { host, command: regenerateCommand(p.regenerate?.tool, true), hint: "fix the cause shown, then run pulumi up again" },
        ),
    };
  }

  const gone = result ? result.loadedBefore.filter((m) => !after.loaded.has(m)) : [];
  const unloaded = unloadedInOrder(p.unload?.sequence ?? [], gone);
  const still = inputs.unload ? inputs.modules.filter((m) => after.modules.get(m)?.loaded) : [];
  if (still.length > 0) {
    const failed = result?.unload.find((u) => u.outcome === "failed");
    const holders = still.map((m) => {
      const l = after.loaded.get(m);
      return `${m} (holders: ${l?.holders.join(", ") || "none"}; refcnt ${l?.refcnt ?? "unknown"})`;
    });
    return {
      ok: false,
      // A failure after the file step puts the file back: the host as it was, nothing outside state.
      undo: p.write !== null ? { regenerated: p.regenerate } : null,
      error: (undone) =>
        new RemoteCommandError(
          `unload incomplete: still loaded: ${holders.join("; ")}${unloaded.length ? `; unloaded before the failure (they stay unloaded): ${unloaded.join(", ")}` : "; nothing was unloaded"}${failed ? `\n    modprobe -r ${failed.module}: ${failed.message}` : ""}\n  ${undone ?? notChanged}.`,
          { exitCode: failed ? 1 : null, stdout: "", stderr: failed?.message ?? "" },
          {
            host,
            command: `modprobe -r ${(failed ? [failed.module] : still).join(" ")}`,
            hint: "remove what holds them (see holders), then run pulumi up again",
          },
        ),
    };
  }
  return { ok: true, outputs: outputsFrom(after, inputs, p.record, { unloaded, notes: p.notes }) };
}

/** The file action that puts the managed path back as `obs` found it. */
export function restoreAction(obs: Observation): FileAction {
  if (obs.file.kind === "file") return { kind: "write", bytes: Buffer.from(obs.file.base64, "base64"), mode: obs.file.mode };
  return obs.file.kind === "absent" ? { kind: "remove" } : { kind: "keep" };
}

/**
 * What a rollback did, for the error of the failed change: from its apply result, or from the
 * error that stopped it (`r` is then an Error). Pure.
 */
export function rollbackReport(path: string, obs: Observation, regenerated: Regeneration | null, r: ApplyResult | Error): string {
  if (r instanceof Error) return `putting ${path} back failed (${r.message}): it holds the new content; remove or restore it by hand`;
  if (r.fileError) return `putting ${path} back failed too (${r.fileError}): it holds the new content; remove or restore it by hand`;
  if (r.initramfs && r.initramfs.exitCode !== 0)
    return `${path} is put back as it was, but regenerating the initramfs again failed (exit ${r.initramfs.exitCode}): run ${regenerateCommand(regenerated?.tool, false)} by hand`;
  return `${path} is put back as it was${obs.file.kind === "absent" ? " (removed)" : ""}${regenerated ? " and the initramfs regenerated again" : ""}`;
}

/** The file action of a delete plan; null when delete has nothing to do on the host. */
export function deleteAction(d: DeletePlan): FileAction | null {
  if (d.file.kind === "keep" && !d.regenerate) return null;
  if (d.file.kind === "keep") return { kind: "keep" };
  if (d.file.kind === "remove") return { kind: "remove" };
  return { kind: "write", bytes: Buffer.from(d.file.replaced.base64, "base64"), mode: d.file.replaced.mode };
}

/** The error of a delete whose apply failed (file step or regeneration); null when it succeeded. Pure. */
export function deleteFailure(host: string, path: string, d: DeletePlan, r: ApplyResult): ConntrackError | null {
  if (r.fileError)
    return new ConntrackError(`could not ${d.file.kind} ${path}: ${r.fileError}`, {
      host,
      command: `${d.file.kind} ${path}`,
      hint: "check that /etc/modprobe.d is writable (root, or sudo: true)",
    });
  if (r.initramfs && r.initramfs.exitCode !== 0)
    return new RemoteCommandError(
      `${path} is ${d.file.kind === "restore" ? "restored" : "removed"}, but regenerating the initramfs failed (exit ${r.initramfs.exitCode}): it still holds the old copy:\n    ${indented(r.initramfs.output)}`,
      { exitCode: r.initramfs.exitCode, stdout: r.initramfs.output, stderr: "" },
      { host, command: regenerateCommand(d.regenerate?.tool, false), hint: "fix the cause shown and regenerate it by hand" },
    );
  return null;
}

import { refusalError } from "../../common/refusal";
import type { ResourceKind } from "../../common/kind";
import { hostLabel, type Connection } from "../../connection/schema";
import { ConflictError, ConntrackError, RemoteCommandError } from "../../errors";
import { apply, type ApplyResult, type FileAction } from "./apply";
import type { ReplacedFile } from "./managed-file";
import { notrackDependenciesIn } from "./notrack-guard";
import { managedPath, observe, type Observation } from "./observe";
import {
  detectDrift,
  INITRAMFS_NOTE_PREFIX,
  liveModules,
  moduleStatuses,
  overrideNotes,
  plan,
  planDelete,
  warningsOf,
  type Drift,
  type ModuleStatus,
  type Recorded,
  type Regeneration,
} from "./plan";
import { MODULE_BLACKLIST_TYPE, ModuleBlacklistSchema, type ModuleBlacklistInputs } from "./schema";

/** What a ModuleBlacklist reports besides its inputs. */
export interface ModuleBlacklistOutputs {
  /** The managed file: `/etc/modprobe.d/<fileName>`. */
  path: string;
  /** `uname -r` of the host when last observed. */
  kernelRelease: string;
  /** Per listed module: loaded, built in, blocked by the file, effective. */
  moduleStates: ModuleStatus[];
  /** Every listed module is effectively kept out (false when one is built in, or overridden). */
  effective: boolean;
  /** This resource has regenerated the initramfs (at create or an update); delete does it again. */
  initramfsRegenerated: boolean;
  /** Modules the last create/update unloaded, listed ones and now-unused dependencies alike. */
  unloaded: string[];
  /** The file that was at the path before create; delete restores it byte for byte. Null: none. */
  replacedFile: ReplacedFile | null;
  /** What the last refresh found changed on the host since create/update. */
  drift: string[];
  /** Some of {@link drift} is repaired by the next `pulumi up` (rewrite the file, unload again). */
  driftRepairable: boolean;
  /** What the operator should know: built-in modules, weak mode, overrides, modules left loaded. */
  notes: string[];
  /**
   * The notes that say a module is NOT kept out (built in, overridden, `blacklist` mode, inside an
   * initramfs left without the file): logged as warnings to the engine by the runtime.
   */
  warnings: string[];
}

type Stored = ModuleBlacklistInputs & Partial<ModuleBlacklistOutputs>;

function recordedFrom(olds: Stored): Recorded {
  return { replaced: olds.replacedFile ?? null, initramfsRegenerated: olds.initramfsRegenerated ?? false };
}

function inputsOf(olds: Stored): ModuleBlacklistInputs {
  return {
    connection: olds.connection,
    modules: olds.modules,
    mode: olds.mode,
    unload: olds.unload,
    initramfs: olds.initramfs,
    fileName: olds.fileName,
  };
}

/** Whether observing needs to look for NotrackRules: only when a listed module is one they need. */
function needsNotrackCheck(modules: readonly string[]): boolean {
  return notrackDependenciesIn(modules).length > 0;
}

function outputsFrom(
  obs: Observation,
  inputs: ModuleBlacklistInputs,
  recorded: Recorded,
  extra: { unloaded: string[]; notes: string[]; drift?: Drift },
): ModuleBlacklistOutputs {
  const moduleStates = moduleStatuses(obs, inputs);
  const notes = [...extra.notes, ...overrideNotes(obs, inputs)];
  return {
    path: managedPath(inputs.fileName),
    kernelRelease: obs.facts.kernelRelease,
    moduleStates,
    effective: moduleStates.length > 0 && moduleStates.every((s) => s.effective),
    initramfsRegenerated: recorded.initramfsRegenerated,
    unloaded: extra.unloaded,
    replacedFile: recorded.replaced,
    drift: extra.drift?.findings ?? [],
    driftRepairable: extra.drift?.repairable ?? false,
    notes,
    warnings: warningsOf(notes),
  };
}

/** Where a module leaves the kernel: the planned sequence (holders first), then any other, sorted. */
function unloadedInOrder(sequence: readonly string[], gone: readonly string[]): string[] {
  return [...sequence.filter((m) => gone.includes(m)), ...gone.filter((m) => !sequence.includes(m)).sort()];
}

/**
 * Puts the managed path back as `obs` found it (and regenerates the initramfs again when the
 * failed attempt did), after a create or update failed half-way. Returns what it did, for the error.
 */
async function rollback(
  conn: Connection,
  path: string,
  obs: Observation,
  regenerated: Regeneration | null,
  modules: readonly string[],
): Promise<string> {
  const file: FileAction =
    obs.file.kind === "file"
      ? { kind: "write", bytes: Buffer.from(obs.file.base64, "base64"), mode: obs.file.mode }
      : obs.file.kind === "absent"
        ? { kind: "remove" }
        : { kind: "keep" };
  try {
    const r = await apply(conn, { path, file, regenerate: regenerated?.tool ?? null, guardNotrack: false, unload: [], modules });
    if (r.fileError) return `putting ${path} back failed too (${r.fileError}): it holds the new content; remove or restore it by hand`;
    if (r.initramfs && r.initramfs.exitCode !== 0)
      return `${path} is put back as it was, but regenerating the initramfs again failed (exit ${r.initramfs.exitCode}): run ${regenerated?.tool === "dracut" ? "dracut -f" : "update-initramfs -u"} by hand`;
    return `${path} is put back as it was${obs.file.kind === "absent" ? " (removed)" : ""}${regenerated ? " and the initramfs regenerated again" : ""}`;
  } catch (e) {
    return `putting ${path} back failed (${(e as Error).message}): it holds the new content; remove or restore it by hand`;
  }
}

/**
 * Brings the host to the inputs: observe, plan, apply (file, initramfs, unload), then judge what
 * the closing observation shows. Throws after the file is written when the unload is refused or
 * fails, so that the operator sees which modules are still loaded and why.
 */
async function converge(inputs: ModuleBlacklistInputs, recorded?: Recorded): Promise<ModuleBlacklistOutputs> {
  const conn = inputs.connection;
  const host = hostLabel(conn);
  const path = managedPath(inputs.fileName);
  // The initramfs is listed for "never" too: only then can the outputs say that early boot still
  // loads a module inside it (effective: false), instead of claiming it is kept out.
  const obs = await observe(conn, path, inputs.modules, { initramfs: true, notrack: needsNotrackCheck(inputs.modules) });
  const p = plan(obs, inputs, recorded);
  if (p.refusal) throw refusalError(conn, p.refusal);

  const unloadOrder = p.unload ? p.unload.order : [];
  let after = obs;
  let result: ApplyResult | undefined;
  // A failure after the file step puts the file back: the host as it was, nothing outside state.
  const undo = () =>
    p.write !== null ? rollback(conn, path, obs, p.regenerate, inputs.modules) : Promise.resolve(`${path} was not changed`);
  if (p.write !== null || p.regenerate || unloadOrder.length > 0) {
    const file: FileAction = p.write !== null ? { kind: "write", bytes: Buffer.from(p.write, "utf8"), mode: "0644" } : { kind: "keep" };
    result = await apply(conn, {
      path,
      file,
      regenerate: p.regenerate?.tool ?? null,
      guardNotrack: p.guardNotrack && p.write !== null,
      unload: unloadOrder,
      modules: inputs.modules,
    });
    // The apply script's closing observation does not list the initramfs again (seconds); the one
    // listed before still holds when nothing regenerated it, and "never" needs it for effective.
    after = { ...result.after, initramfs: result.after.initramfs ?? (p.regenerate ? null : obs.initramfs) };
    if (result.conflict && result.conflict.length > 0) {
      throw new ConflictError(
        `a NotrackRule of pulumi-conntrack appeared on this host while planning, and it needs ${notrackDependenciesIn(inputs.modules).join(", ")}; nothing was changed`,
        {
          host,
          command: `write ${path}`,
          hint: "remove those modules from modules, or delete the NotrackRule resources on this host first",
        },
      );
    }
    if (result.fileError) {
      throw new ConntrackError(`could not write ${path}: ${result.fileError}; nothing else was done`, {
        host,
        command: `write ${path}`,
        hint: "check that /etc/modprobe.d is writable (root, or sudo: true)",
      });
    }
    if (result.initramfs && result.initramfs.exitCode !== 0) {
      const cmd = p.regenerate?.tool === "dracut" ? "dracut -f --kver $(uname -r)" : "update-initramfs -u -k $(uname -r)";
      const undone = p.write !== null ? await rollback(conn, path, obs, null, inputs.modules) : `${path} was not changed`;
      throw new RemoteCommandError(
        `regenerating the initramfs failed (exit ${result.initramfs.exitCode}); nothing was unloaded; ${undone}:\n    ${result.initramfs.output.split("\n").join("\n    ")}`,
        { exitCode: result.initramfs.exitCode, stdout: result.initramfs.output, stderr: "" },
        { host, command: cmd, hint: "fix the cause shown, then run pulumi up again" },
      );
    }
  }

  const gone = result ? result.loadedBefore.filter((m) => !after.loaded.has(m)) : [];
  const unloaded = unloadedInOrder(p.unload?.sequence ?? [], gone);
  if (inputs.unload) {
    const still = inputs.modules.filter((m) => after.modules.get(m)?.loaded);
    if (still.length > 0) {
      const failed = result?.unload.find((u) => u.outcome === "failed");
      const holders = still.map((m) => {
        const l = after.loaded.get(m);
        return `${m} (holders: ${l?.holders.join(", ") || "none"}; refcnt ${l?.refcnt ?? "unknown"})`;
      });
      const undone = await undo();
      throw new RemoteCommandError(
        `unload incomplete: still loaded: ${holders.join("; ")}${unloaded.length ? `; unloaded before the failure (they stay unloaded): ${unloaded.join(", ")}` : "; nothing was unloaded"}${failed ? `\n    modprobe -r ${failed.module}: ${failed.message}` : ""}\n  ${undone}.`,
        { exitCode: failed ? 1 : null, stdout: "", stderr: failed?.message ?? "" },
        {
          host,
          command: `modprobe -r ${(failed ? [failed.module] : still).join(" ")}`,
          hint: "remove what holds them (see holders), then run pulumi up again",
        },
      );
    }
  }
  return outputsFrom(after, inputs, p.record, { unloaded, notes: p.notes });
}

/**
 * ModuleBlacklist: keeps kernel modules out through one managed file under `/etc/modprobe.d`,
 * optionally unloads them now, and regenerates the initramfs when early boot would load them.
 * Delete removes the file (or restores the one it replaced) and leaves loaded or unloaded modules
 * as they are.
 */
export const moduleBlacklistKind: ResourceKind<ModuleBlacklistInputs, ModuleBlacklistOutputs> = {
  type: MODULE_BLACKLIST_TYPE,
  schema: ModuleBlacklistSchema,
  // Another file name is another object on the host; both cannot hold the same modules at once.
  replaceOn: ["fileName"],
  deleteBeforeReplace: true,
  stateVersion: 1,

  async create(inputs) {
    const outs = await converge(inputs);
    return { id: `${inputs.connection.host}:${inputs.connection.port}:${outs.path}`, outs };
  },

  async read(_id, olds) {
    const stored = olds as Stored;
    const inputs = inputsOf(stored);
    const recorded = recordedFrom(stored);
    // Listing the initramfs costs seconds; only `never` needs it on every read, since only then does
    // what is inside decide whether the modules stay out at boot (effective). Otherwise the
    // initramfs notes of the last create/update are carried over.
    const early = inputs.initramfs === "never";
    const obs = await observe(inputs.connection, managedPath(inputs.fileName), inputs.modules, {
      initramfs: early,
      notrack: needsNotrackCheck(inputs.modules),
    });
    const drift = detectDrift(obs, inputs, recorded);
    const carried = early ? [] : (stored.notes ?? []).filter((n) => n.startsWith(INITRAMFS_NOTE_PREFIX));
    const notes = [...plan(obs, inputs, recorded).notes, ...carried];
    const needed = notrackDependenciesIn(inputs.modules);
    if (needed.length > 0 && obs.notrackRules && obs.notrackRules.length > 0) {
      notes.push(
        `NotrackRules of pulumi-conntrack now manage rules on this host and need ${needed.join(", ")}, which this resource keeps out; the next update refuses until one of them goes.`,
      );
    }
    const outs = outputsFrom(obs, inputs, recorded, { unloaded: stored.unloaded ?? [], notes, drift });
    return { outs, inputs: { ...inputs, modules: liveModules(obs, inputs.mode) } };
  },

  async update(_id, olds, news) {
    return converge(news, recordedFrom(olds as Stored));
  },

  async delete(_id, olds) {
    const stored = olds as Stored;
    const inputs = inputsOf(stored);
    const conn = inputs.connection;
    const path = managedPath(inputs.fileName);
    const obs = await observe(conn, path, inputs.modules ?? [], { initramfs: inputs.initramfs !== "never", notrack: false });
    const d = planDelete(obs, inputs, recordedFrom(stored));
    if (d.file.kind === "keep" && !d.regenerate) return;
    const file: FileAction =
      d.file.kind === "keep"
        ? { kind: "keep" }
        : d.file.kind === "remove"
          ? { kind: "remove" }
          : { kind: "write", bytes: Buffer.from(d.file.replaced.base64, "base64"), mode: d.file.replaced.mode };
    const r = await apply(conn, {
      path,
      file,
      regenerate: d.regenerate?.tool ?? null,
      guardNotrack: false,
      unload: [],
      modules: inputs.modules ?? [],
    });
    const host = hostLabel(conn);
    if (r.fileError)
      throw new ConntrackError(`could not ${d.file.kind} ${path}: ${r.fileError}`, {
        host,
        command: `${d.file.kind} ${path}`,
        hint: "check that /etc/modprobe.d is writable (root, or sudo: true)",
      });
    if (r.initramfs && r.initramfs.exitCode !== 0) {
      throw new RemoteCommandError(
        `${path} is ${d.file.kind === "restore" ? "restored" : "removed"}, but regenerating the initramfs failed (exit ${r.initramfs.exitCode}): it still holds the old copy:\n    ${r.initramfs.output.split("\n").join("\n    ")}`,
        { exitCode: r.initramfs.exitCode, stdout: r.initramfs.output, stderr: "" },
        {
          host,
          command: d.regenerate?.tool === "dracut" ? "dracut -f" : "update-initramfs -u",
          hint: "fix the cause shown and regenerate it by hand",
        },
      );
    }
  },

  repairPending(olds) {
    return olds.driftRepairable === true;
  },
};

import { refusalError } from "../../common/refusal";
import type { ResourceKind } from "../../common/kind";
import { hostLabel, type Connection } from "../../connection/schema";
import { hostEpoch } from "../../transport/exec";
import { apply, type ApplyResult, type FileAction } from "./apply";
import { deleteAction, deleteFailure, judgeConverge, restoreAction, rollbackReport } from "./apply-result";
import { helperModulesIn, helperModulesInUse } from "./helper-guard";
import { notrackDependenciesIn } from "./notrack-guard";
import { observe } from "./observe";
import { managedPath, type Observation } from "./observation";
import { outputsFrom, type ModuleBlacklistOutputs } from "./outputs";
import { detectDrift, INITRAMFS_NOTE_PREFIX, liveModules, plan, planDelete, type Recorded, type Regeneration } from "./plan";
import { MODULE_BLACKLIST_TYPE, ModuleBlacklistSchema, type ModuleBlacklistInputs } from "./schema";

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

/**
 * Whether observing needs to look for managed rules: only when a listed module is one NotrackRules
 * need, or holds a conntrack helper a ConntrackHelperRule may attach.
 */
export function needsNotrackCheck(modules: readonly string[]): boolean {
  return notrackDependenciesIn(modules).length > 0 || helperModulesIn(modules).length > 0;
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
  try {
    const r = await apply(conn, {
      path,
      file: restoreAction(obs),
      regenerate: regenerated?.tool ?? null,
      guardNotrack: false,
      guardHelpers: [],
      unload: [],
      modules,
    });
    return rollbackReport(path, obs, regenerated, r);
  } catch (e) {
    return rollbackReport(path, obs, regenerated, e as Error);
  }
}

/**
 * Brings the host to the inputs: observe, plan, apply (file, initramfs, unload), then judge what
 * the closing observation shows (`judgeConverge`). Throws after the file is written when the unload
 * is refused or fails, so that the operator sees which modules are still loaded and why; a failure
 * after the file step puts the file back first.
 */
async function converge(inputs: ModuleBlacklistInputs, recorded?: Recorded): Promise<ModuleBlacklistOutputs> {
  const conn = inputs.connection;
  // What the host had been through when the engine asked: the plan may start from a read of the
  // host begun since, even one a sibling resource's change overlapped (`since` in
  // `transport/snapshot.ts`). Sound because the apply re-checks under the host lock what the plan
  // decided by and other resources change: the managed rules that need a listed module, and each
  // module's being loaded; it writes the file whatever it holds, and reads the host back after.
  const since = hostEpoch(conn);
  const path = managedPath(inputs.fileName);
  // The initramfs is listed for "never" too: only then can the outputs say that early boot still
  // loads a module inside it (effective: false), instead of claiming it is kept out.
  const obs = await observe(conn, path, inputs.modules, {
    initramfs: true,
    notrack: needsNotrackCheck(inputs.modules),
    shared: "plan",
    since,
  });
  const p = plan(obs, inputs, recorded);
  if (p.refusal) throw refusalError(conn, p.refusal);

  const unloadOrder = p.unload ? p.unload.order : [];
  let result: ApplyResult | undefined;
  if (p.write !== null || p.regenerate || unloadOrder.length > 0) {
    const file: FileAction = p.write !== null ? { kind: "write", bytes: Buffer.from(p.write, "utf8"), mode: "0644" } : { kind: "keep" };
    result = await apply(conn, {
      path,
      file,
      regenerate: p.regenerate?.tool ?? null,
      guardNotrack: p.guardNotrack && p.write !== null,
      guardHelpers: p.write !== null ? p.guardHelpers : [],
      unload: unloadOrder,
      modules: inputs.modules,
    });
  }
  const verdict = judgeConverge({ host: hostLabel(conn), path, inputs, observed: obs, plan: p, result });
  if (verdict.ok) return verdict.outputs;
  const undone = verdict.undo ? await rollback(conn, path, obs, verdict.undo.regenerated, inputs.modules) : null;
  throw verdict.error(undone);
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
      shared: "read",
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
    for (const u of helperModulesInUse(obs.notrackRules ?? [], inputs.modules)) {
      notes.push(
        `ConntrackHelperRules of pulumi-conntrack now attach helpers of ${u.module} on this host, which this resource keeps out; the next update refuses until one of them goes.`,
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
    // As in `converge`, the plan may start from a read of the host begun since the engine asked:
    // it decides by the managed file, which only this resource writes, and by the initramfs, which
    // a read taken now could equally have seen before a sibling's regeneration.
    const since = hostEpoch(conn);
    const obs = await observe(conn, path, inputs.modules ?? [], {
      initramfs: inputs.initramfs !== "never",
      notrack: false,
      shared: "plan",
      since,
    });
    const d = planDelete(obs, inputs, recordedFrom(stored));
    const file = deleteAction(d);
    if (file === null) return;
    const r = await apply(conn, {
      path,
      file,
      regenerate: d.regenerate?.tool ?? null,
      guardNotrack: false,
      guardHelpers: [],
      unload: [],
      modules: inputs.modules ?? [],
    });
    const failure = deleteFailure(hostLabel(conn), path, d, r);
    if (failure) throw failure;
  },

  repairPending(olds) {
    return olds.driftRepairable === true;
  },
};

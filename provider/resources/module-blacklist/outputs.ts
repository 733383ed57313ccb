import type { ReplacedFile } from "./managed-file";
import { managedPath, type Observation } from "./observation";
import { moduleStatuses, overrideNotes, warningsOf, type Drift, type ModuleStatus, type Recorded } from "./plan";
import type { ModuleBlacklistInputs } from "./schema";
import type { Assert, ExactNames } from "../../common/output-names";

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

/** Outputs for the host as observed, with what state records and what the last change did. Pure. */
export function outputsFrom(
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

/**
 * The names of ModuleBlacklist's outputs besides its inputs, once: the constructor's output slots come
 * from it, and the compiler checks it against {@link ModuleBlacklistOutputs} and the class's declared fields (`resource.ts`).
 */
export const MODULE_BLACKLIST_OUTPUT_NAMES = [
  "path",
  "kernelRelease",
  "moduleStates",
  "effective",
  "initramfsRegenerated",
  "unloaded",
  "replacedFile",
  "drift",
  "driftRepairable",
  "notes",
  "warnings",
] as const;

// Compile-time only: the list is exactly the outputs type's keys.
type _NamesAreTheOutputs = Assert<ExactNames<ModuleBlacklistOutputs, typeof MODULE_BLACKLIST_OUTPUT_NAMES>>;

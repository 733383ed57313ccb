import { deepEqual } from "./equal";
import { containsUnknown, valueAt } from "./unknown";

/** What the dynamic-provider server forwards to the engine from a diff. */
export interface DiffOutcome {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/** Which inputs a resource compares, and which of them force a replacement. */
export interface DiffSpec {
  /** Top-level input properties. */
  inputKeys: readonly string[];
  /** Dotted paths whose change means another object on the host (or another host): replace. */
  replaceOn: readonly string[];
  /** Replacements must remove the old object first (both cannot exist at once). */
  deleteBeforeReplace?: boolean;
}

/**
 * Compares stored inputs (`olds`, normalized) with the program's (`news`, normalized by check).
 * Needs no host, so preview of a fleet costs nothing on the hosts. An unknown value counts as a
 * change, and as a replacement when it sits on a replace path.
 */
export function diffInputs(olds: Record<string, unknown>, news: Record<string, unknown>, spec: DiffSpec): DiffOutcome {
  const replaces: string[] = [];
  let changes = false;
  for (const key of spec.inputKeys) {
    if (!deepEqual(olds[key], news[key])) changes = true;
  }
  for (const path of spec.replaceOn) {
    const parts = path.split(".");
    const a = valueAt(olds, parts);
    const b = valueAt(news, parts);
    if (containsUnknown(b) || !deepEqual(a, b)) {
      const top = parts[0];
      if (!replaces.includes(top)) replaces.push(top);
    }
  }
  return { changes: changes || replaces.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 && !!spec.deleteBeforeReplace };
}

/** A loaded module as `/sys/module/<name>` shows it. */
export interface LoadedModule {
  name: string;
  /** `/sys/module/<name>/initstate`: `live`, `coming` or `going`. */
  state: string;
  /** `/sys/module/<name>/refcnt`; null when the kernel cannot unload modules (no such file). */
  refcnt: number | null;
  /** `/sys/module/<name>/holders/`: loaded modules that use this one. */
  holders: string[];
}

/** Why a listed module cannot be unloaded now. */
export interface UnloadBlocker {
  module: string;
  /** Its holders that would still be loaded. */
  holders: string[];
  refcnt: number | null;
  /** References that are not modules: rules, nft objects, sockets or a process using it. */
  otherUsers: number;
}

/** What `modprobe -r`, run on the listed modules in {@link UnloadPlan.order}, would do. */
export interface UnloadPlan {
  /**
   * The listed loaded modules in the order they leave the kernel: a module only after every module
   * holding it. `modprobe -r` is run on each that is still loaded when its turn comes.
   */
  order: string[];
  /** Modules not listed that leave as now-unused dependencies (modprobe -r removes those). */
  dependencies: string[];
  /** Listed modules that would stay loaded; empty when the whole set can go. */
  blocked: UnloadBlocker[];
  /**
   * What to remove first (or add to the list), holders before what they hold: modules outside the
   * list that hold a blocked one, directly or through others.
   */
  removeFirst: string[];
}

/**
 * Simulates `modprobe -r` on `requested` over the live holder graph: a module goes when no module
 * holds it and nothing else references it (`refcnt` equals its number of holders); after it goes,
 * its dependencies that are left unused go too, as modprobe -r does. Pure, so the dependency order
 * and every refusal are tested without a host.
 */
export function planUnload(loaded: ReadonlyMap<string, LoadedModule>, requested: readonly string[]): UnloadPlan {
  const holders = new Map<string, Set<string>>();
  const other = new Map<string, number>();
  for (const m of loaded.values()) {
    const hs = new Set(m.holders.filter((h) => loaded.has(h)));
    holders.set(m.name, hs);
    // A holder takes one reference (ref_module); whatever is left over is a user that is not a module.
    other.set(m.name, m.refcnt === null ? 0 : Math.max(0, m.refcnt - m.holders.length));
  }
  const wanted = new Set(requested.filter((m) => loaded.has(m)));
  const gone = new Set<string>();
  const order: string[] = [];
  const dependencies: string[] = [];

  const free = (m: string) => holders.get(m)!.size === 0 && other.get(m)! === 0;
  const remove = (m: string) => {
    gone.add(m);
    if (wanted.has(m)) order.push(m);
    else dependencies.push(m);
    // Sorted so that the order is the same on every run.
    for (const d of [...holders.keys()].sort()) {
      const hs = holders.get(d)!;
      if (!hs.delete(m) || gone.has(d)) continue;
      if (free(d)) remove(d);
    }
  };

  for (let progress = true; progress; ) {
    progress = false;
    for (const m of [...wanted].sort()) {
      if (gone.has(m) || !free(m)) continue;
      remove(m);
      progress = true;
    }
  }

  const blocked: UnloadBlocker[] = [];
  for (const m of [...wanted].sort()) {
    if (gone.has(m)) continue;
    blocked.push({ module: m, holders: [...holders.get(m)!].sort(), refcnt: loaded.get(m)!.refcnt, otherUsers: other.get(m)! });
  }
  return { order, dependencies, blocked, removeFirst: outsideHolders(blocked, holders, wanted, gone) };
}

/** Modules outside the list that (transitively) hold a blocked one, holders first. */
function outsideHolders(blocked: UnloadBlocker[], holders: Map<string, Set<string>>, wanted: Set<string>, gone: Set<string>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const visit = (m: string) => {
    for (const h of [...(holders.get(m) ?? [])].sort()) {
      if (seen.has(h) || gone.has(h)) continue;
      seen.add(h);
      visit(h);
      if (!wanted.has(h)) out.push(h);
    }
  };
  for (const b of blocked) visit(b.module);
  return out;
}

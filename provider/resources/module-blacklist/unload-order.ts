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

/** Modules that hold a netfilter table and its rules (`iptable_nat`, `ip6table_raw`, `ebtable_filter`, ...). */
export const TABLE_MODULE = /^(iptable|ip6table|arptable|ebtable)_/;

/** What `modprobe -r`, run on the listed modules in {@link UnloadPlan.order}, would do. */
export interface UnloadPlan {
  /**
   * The `modprobe -r` calls in the order they run: a module only after every module holding it.
   * Holds the listed loaded modules and, before them, the unused holders of {@link UnloadPlan.holdersRemoved}.
   * `modprobe -r` is run on each that is still loaded when its turn comes.
   */
  order: string[];
  /**
   * Modules not listed that hold a listed one but are used by nothing (refcnt 0 apart from their
   * own unused holders, e.g. `xt_MASQUERADE` or `nft_chain_nat` with no rule using them): they
   * must go first, so they are in {@link UnloadPlan.order}, holders before what they hold.
   */
  holdersRemoved: string[];
  /** Modules not listed that leave as now-unused dependencies (modprobe -r removes those). */
  dependencies: string[];
  /** Every module that leaves, in the order it leaves the kernel (explicit and dependencies). */
  sequence: string[];
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
 * its dependencies that are left unused go too, as modprobe -r does. A listed module whose holders
 * are all unused (themselves held only by unused modules) is unloaded after them, holders first.
 * Pure, so the dependency order and every refusal are tested without a host.
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
  const holdersRemoved: string[] = [];
  const dependencies: string[] = [];
  const sequence: string[] = [];

  const free = (m: string) => holders.get(m)!.size === 0 && other.get(m)! === 0;
  // Could go once its holders go: nothing but modules uses it, and they can go too. A kernel
  // without refcnt (null) counts as unused, as before; the module graph has no cycles. A table
  // module outside the list never counts as unused: its refcnt stays 0 while the table holds rules,
  // and unloading it would drop them.
  const removable = (m: string, path = new Set<string>()): boolean => {
    if (gone.has(m)) return true;
    if (path.has(m) || other.get(m)! > 0) return false;
    if (!wanted.has(m) && TABLE_MODULE.test(m)) return false;
    path.add(m);
    const ok = [...holders.get(m)!].every((h) => removable(h, path));
    path.delete(m);
    return ok;
  };
  const cascade = (m: string) => {
    gone.add(m);
    sequence.push(m);
    // Sorted so that the order is the same on every run.
    for (const d of [...holders.keys()].sort()) {
      const hs = holders.get(d)!;
      if (!hs.delete(m) || gone.has(d)) continue;
      if (free(d)) {
        if (wanted.has(d)) order.push(d);
        else dependencies.push(d);
        cascade(d);
      }
    }
  };
  const removeWithHolders = (m: string) => {
    for (const h of [...holders.get(m)!].sort()) if (!gone.has(h)) removeWithHolders(h);
    if (gone.has(m)) return;
    order.push(m);
    if (!wanted.has(m)) holdersRemoved.push(m);
    cascade(m);
  };

  for (let progress = true; progress; ) {
    progress = false;
    for (const m of [...wanted].sort()) {
      if (gone.has(m) || !removable(m)) continue;
      removeWithHolders(m);
      progress = true;
    }
  }

  const blocked: UnloadBlocker[] = [];
  for (const m of [...wanted].sort()) {
    if (gone.has(m)) continue;
    blocked.push({ module: m, holders: [...holders.get(m)!].sort(), refcnt: loaded.get(m)!.refcnt, otherUsers: other.get(m)! });
  }
  return { order, holdersRemoved, dependencies, sequence, blocked, removeFirst: outsideHolders(blocked, holders, wanted, gone) };
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

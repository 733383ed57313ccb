/**
 * One observation of a host per engine operation, shared by the reads of all its resources.
 *
 * The provider process lives for one `pulumi` command. In a `refresh` the engine reads every
 * resource, a few at a time, one gRPC call each, and each kind reads the host with its own observe
 * script: four or five round trips per host for the same moment's state. Here a read-only
 * observation is kept for the rest of the operation, and the first read a host misses also runs, on
 * the same channel, the other observations this process has needed on other hosts (a fleet's hosts
 * run the same program): the host's later reads cost no round trip.
 *
 * What keeps it correct:
 * - Only commands marked as observations are kept or prefetched; they change nothing on the host.
 * - Every other command on the host through this process (an apply, a write, any command not
 *   marked as an observation) drops what was kept for it, and an observation that ran while such a
 *   command was in flight is not kept. A fresh observation is never answered from what was kept.
 * - Only an observation that exited 0 is kept; a failed one is answered once and run again later.
 * - What is kept is keyed by the complete connection identity (credentials, host key and sudo
 *   included) and by the exact command line, and is dropped after {@link snapshotSettings.maxAgeMs}.
 *   A change drops what was kept for every identity that reaches the same host (address and port):
 *   two logins to one machine see one machine.
 * - Prefetched observations run with the host's own connection settings (its `sudo`), never with
 *   another host's command line.
 *
 * Three refinements for a `pulumi up`, where the resources of a host start together:
 * - A miss waits {@link snapshotSettings.gatherMs} for the host's other observations issued in the
 *   same moment (the engine's calls arrive one by one, a millisecond or two apart), and they go to
 *   the host together on one channel. Joining an observation that has not started yet is as fresh
 *   as running it, so even a fresh one joins.
 * - A re-checked plan (`"plan"`) may also be answered by an observation that a change overlapped or
 *   followed, when the change completed after the plan's request arrived (`since`, the host's count
 *   of completed changes when the engine asked): the engine had not ordered the request after that
 *   change (a resource that depends on another is asked for only once the other is done), so the
 *   host as it was before the change is a state the request could have met, and its apply re-checks
 *   under the host lock what it changes. Only for a plan whose apply re-checks under the lock
 *   everything the plan decided by: two such plans that each read the host before the other's
 *   change would otherwise both go ahead (a write skew). NotrackRule's apply re-checks the rules,
 *   the saved file and the modprobe.d lines that keep conntrack or a helper out (its plan's
 *   `modprobeGuard`); ModuleBlacklist's re-checks the managed rules that need a listed module (its
 *   delete decides by its own managed file, which nothing else writes).
 * - A change brings along, on its channel right after it, the observations this process learnt on
 *   other hosts that have not run on this host yet in this operation ({@link HostSnapshots.change}):
 *   a host's last resources, asked for once its first change is under way, plan from them instead
 *   of from a read of their own (one channel fewer per host in a cold `up` and a `destroy`, where a
 *   host's ninth and tenth resources get an engine slot only when its first ones are done). They
 *   read the host after the change, so they count as started when the change was asked for, and,
 *   when no other change of this process ran beside it, as started after it. The same channel also
 *   takes the host's observations waiting to start together when the change is issued (they run
 *   after it rather than beside it), and those its caller asks to read again (`then`: a NotrackRule
 *   batch that expects more rules of the host, for the next batch's plan). A change given more
 *   than the default time (an initramfs regenerated) brings nothing along: what waits for those
 *   reads would wait as long.
 */

/** Tuning; tests and benchmarks may change it. */
export const snapshotSettings = {
  /**
   * On by default: the provider process lives for one engine operation. A process that calls the
   * handlers directly for several operations (tests) turns it off, or calls {@link resetSnapshots}.
   */
  enabled: process.env.CONNTRACK_HOST_SNAPSHOT !== "0",
  /** A kept observation older than this is read again. */
  maxAgeMs: envMs("CONNTRACK_HOST_SNAPSHOT_MAX_AGE_MS", 60_000),
  /**
   * How long a miss waits for the host's other observations issued at the same moment, so that
   * they share one channel; 0 runs it at once.
   */
  gatherMs: envMs("CONNTRACK_HOST_SNAPSHOT_GATHER_MS", 5),
  /**
   * Whether a plan's miss also prefetches the host's learnt observations that have not run there
   * yet (see {@link SnapshotUse}). Opt-in (CONNTRACK_HOST_SNAPSHOT_PLAN_PREFETCH=1): measured on the
   * 50-host lab, it took a host's cold up from about 4.3 to 3.1 channels at parallelism 16, but at
   * parallelism 8 (the engine's default here) the host's last resource arrives only after its first
   * change ended, so the prefetched read was never used: one script more per host, and on a machine
   * whose cores the lab hosts share, no faster at 16 and slower at 8. On a real fleet, where each
   * host runs its scripts on its own CPU, the saved round trip may be worth it.
   */
  prefetchForPlans: process.env.CONNTRACK_HOST_SNAPSHOT_PLAN_PREFETCH === "1",
  /**
   * Whether a change also runs, on its own channel right after it, the host's observations that
   * this process learnt on other hosts and that have not run on this host yet in this operation
   * (see {@link HostSnapshots.change}): in a `pulumi up` the host's last resources (a fleet's hosts
   * run the same program) are asked for after its first change began, and find their read taken
   * after it instead of costing a channel of their own. Off with CONNTRACK_HOST_SNAPSHOT_FOLLOW=0.
   */
  followChanges: process.env.CONNTRACK_HOST_SNAPSHOT_FOLLOW !== "0",
  /** Most other observations prefetched with one. */
  maxPrefetch: 8,
  /**
   * Longest command (argument bytes) that is learnt for prefetching: well below the side-by-side
   * driver's limit per command line (`MAX_OBSERVE_LINE`, quoting included), so that prefetching
   * never pushes a host's reads onto the one-after-another driver.
   */
  maxPrefetchBytes: 64 * 1024,
};

function envMs(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
}

/**
 * How a caller uses the host's snapshot: `"read"` (a resource's read: answered from what was kept;
 * a miss also brings the host's other observations along), `"plan"` (the plan of a change whose
 * apply re-checks under the host lock everything the plan decided by: answered from what was kept,
 * or with `since` from a read a sibling's change overlapped; with {@link snapshotSettings.prefetchForPlans}
 * a miss also brings along the host's other observations that have not run there yet in this
 * operation, for the plans of the host's other resources that the engine asks for before this
 * change ends), `"fresh"` (the plan of a change that
 * re-checks nothing: never answered from what was kept, but, changing nothing, it drops nothing,
 * and what it read is kept for later reads).
 */
export type SnapshotUse = "read" | "plan" | "fresh";

/** One observation command, host-independent: its argument vector and how it runs. */
export interface Observation {
  argv: readonly string[];
  label: string;
  timeoutMs?: number;
}

/** What an observation printed; only `exitCode === 0` is kept. */
export interface ObservedResult {
  exitCode: number | null;
  stdout: string;
}

/**
 * Runs a change on one host and, on the same channel once the change has ended there, the
 * observations `after`: the change's answer, and each observation's when it is done.
 */
export type FollowedChangeRunner<T, R> = (after: readonly Observation[]) => {
  change: Promise<T>;
  after: ReadonlyArray<Promise<ObservationOutcome<R>>>;
};

/** What one observation of a group ended with. */
export type ObservationOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Runs observations on one host on one channel; answers for each, each when it is done. */
export type ObservationRunner<R> = (items: readonly Observation[]) => ReadonlyArray<Promise<ObservationOutcome<R>>>;

interface Kept<R> {
  at: number;
  value: R;
}

/** An observation as it started: the host's count of completed changes then, and its answer. */
interface Started<R> {
  epoch: number;
  at: number;
  promise: Promise<R>;
  /** Its answer, once it succeeded. */
  value?: R;
}

/** Observations of one identity waiting to start together (see {@link snapshotSettings.gatherMs}). */
interface Gathering<R> {
  run: ObservationRunner<R>;
  /**
   * What the group also runs of what this process learnt: `"all"` when some member is a read (what
   * the host does not hold now), `"unseen"` when the members are plans (only what has not run on
   * the host yet in this operation: a plan after the host's first changes finds its siblings' reads
   * done), `"none"` for fresh observations alone.
   */
  prefetch: "all" | "unseen" | "none";
  members: Map<string, { obs: Observation; answer: Promise<R>; settle(p: Promise<R>): void }>;
  /** Taken over by a change that started before the group did: its members run after the change. */
  taken?: boolean;
}

interface HostState<R> {
  /** Bumped whenever something else starts or ends on the host. */
  version: number;
  /** Commands other than observations completed on the host: what a plan's `since` compares with. */
  epoch: number;
  /** Commands other than observations in flight on the host. */
  changing: number;
  /** Commands other than observations started on the host. */
  starts: number;
  kept: Map<string, Kept<R>>;
  inFlight: Map<string, Promise<R>>;
  /** The last start of each observation, kept across changes, for plans that arrived before them. */
  recent: Map<string, Started<R>>;
  /** Per connection identity: misses waiting to start together. */
  gathering: Map<string, Gathering<R>>;
}

const argvKey = (argv: readonly string[]) => JSON.stringify(argv);
const keptKey = (who: string, argv: readonly string[]) => JSON.stringify([who, argv]);

/**
 * The snapshots of one process, per host (address and port) and, within it, per connection
 * identity. Generic in the result type so that it is tested without a host; `exec` uses the one
 * instance {@link hostSnapshots}.
 */
export class HostSnapshots<R extends ObservedResult> {
  private hosts = new Map<string, HostState<R>>();
  /** Observations seen in this process, in the order first seen: what a host's first read (or plan, see `prefetchForPlans`) prefetches. */
  private learnt = new Map<string, Observation>();
  /** Observations answered from what was kept (no remote command). */
  hits = 0;

  private state(host: string): HostState<R> {
    let s = this.hosts.get(host);
    if (!s) {
      s = { version: 0, epoch: 0, changing: 0, starts: 0, kept: new Map(), inFlight: new Map(), recent: new Map(), gathering: new Map() };
      this.hosts.set(host, s);
    }
    return s;
  }

  /**
   * The count of commands other than observations completed on `host` so far: taken when a request
   * arrives, it is the `since` of {@link observe} for that request's re-checked plan.
   */
  epoch(host: string): number {
    return this.state(host).epoch;
  }

  /**
   * The result of `obs` on `host` through connection identity `who`: kept from earlier in this
   * operation, joined to the same observation in flight or about to start, or run now together with
   * the host's other observations issued at the same moment (for a read, and for a plan with
   * `prefetchForPlans`, also with the other observations this process learnt). A `"plan"` with `since` may also take the last observation
   * that started with at least `since` changes completed (see the module's comment).
   */
  observe(host: string, who: string, obs: Observation, run: ObservationRunner<R>, use: SnapshotUse = "read", since?: number): Promise<R> {
    const s = this.state(host);
    const key = keptKey(who, obs.argv);
    this.learn(obs);
    // A fresh observation never joins one that started before it was asked for.
    if (use !== "fresh") {
      const k = this.keptValue(s, key);
      const answer = k ? Promise.resolve(k) : (s.inFlight.get(key) ?? (use === "plan" ? this.startedSince(s, key, since) : undefined));
      if (answer) {
        this.hits++;
        return answer;
      }
    }
    const open = s.gathering.get(who);
    const g: Gathering<R> = open ?? { run, prefetch: "none", members: new Map() };
    if (use === "read") g.prefetch = "all";
    else if (use === "plan" && g.prefetch === "none" && snapshotSettings.prefetchForPlans) g.prefetch = "unseen";
    const joined = g.members.get(key);
    if (joined) {
      this.hits++;
      return joined.answer;
    }
    let settle!: (p: Promise<R>) => void;
    const answer = new Promise<R>((resolve) => (settle = resolve));
    g.members.set(key, { obs, answer, settle });
    if (!open) {
      if (snapshotSettings.gatherMs > 0) {
        s.gathering.set(who, g);
        setTimeout(() => this.start(s, who, g), snapshotSettings.gatherMs);
      } else this.start(s, who, g);
    }
    return answer;
  }

  /** Starts a gathered group on one channel: its members, and what else was learnt as `g.prefetch` says. */
  private start(s: HostState<R>, who: string, g: Gathering<R>): void {
    if (g.taken) return;
    if (s.gathering.get(who) === g) s.gathering.delete(who);
    const own = [...g.members.entries()].map(([k, m]) => [k, m.obs] as const);
    const extra = g.prefetch === "none" ? [] : this.learntFor(s, who, g.members, g.prefetch === "unseen");
    const items = [...own, ...extra];
    const version = s.version;
    const epoch = s.epoch;
    const at = performance.now();
    let outcomes: ReadonlyArray<Promise<ObservationOutcome<R>>>;
    try {
      outcomes = g.run(items.map(([, o]) => o));
    } catch (error) {
      // A runner that throws at once answers every member with its error.
      outcomes = items.map(() => Promise.resolve({ ok: false as const, error }));
    }
    items.forEach(([k2], i) => {
      const { promise: p } = this.track(s, k2, outcomes[i], {
        begun: { epoch, at },
        // Kept only when nothing else ran on the host meanwhile.
        keepable: () => s.version === version && s.changing === 0,
        keptAt: at,
        // Settled before any caller resumes: a later call never joins a finished observation.
        ended: (q) => {
          if (s.inFlight.get(k2) === q) s.inFlight.delete(k2);
        },
      });
      s.inFlight.set(k2, p);
      const member = g.members.get(k2);
      // A prefetched observation nobody asks for must not surface as an unhandled rejection.
      if (member) member.settle(p);
      else p.catch(() => undefined);
    });
  }

  /** The last observation under `key` that started with at least `since` changes completed, when young enough. */
  private startedSince(s: HostState<R>, key: string, since: number | undefined): Promise<R> | undefined {
    const r = s.recent.get(key);
    if (since === undefined || !r || r.epoch < since || performance.now() - r.at > snapshotSettings.maxAgeMs) return undefined;
    return r.promise;
  }

  /**
   * Wraps something else that runs on `host` (an apply, a write, any command not marked as an
   * observation): what was kept for the host is dropped before it starts and again when it ends,
   * and observations in flight meanwhile are not kept.
   */
  async changing<T>(host: string, fn: () => Promise<T>): Promise<T> {
    const s = this.state(host);
    this.drop(s);
    s.changing++;
    s.starts++;
    try {
      return await fn();
    } finally {
      s.changing--;
      s.epoch++;
      this.drop(s);
    }
  }

  /**
   * A change through connection identity `who` that brings along, on its channel after it, the
   * observations this process learnt on other hosts that have not run on this host yet in this
   * operation, and those of `who` waiting to start together ({@link snapshotSettings.gatherMs}:
   * they run after the change instead of beside it), and `then`, observations the caller wants to
   * read again after its change ({@link snapshotSettings.followChanges}); otherwise
   * {@link changing}. Each such
   * observation counts as started when the change was asked for (it reads the host even later), so
   * a re-checked plan asked for before the change ended may take it (`since`). When no other change
   * of this process ran on the host while this one did, it reads the host as this change left it:
   * it then also counts as started after this change (a plan asked for once the change ended may
   * take it) and is kept for the host's later reads, unless something else has started there by
   * the time it is done.
   */
  async change<T>(host: string, who: string, run: FollowedChangeRunner<T, R>, then: readonly Observation[] = []): Promise<T> {
    const s = this.state(host);
    // Observations of this login waiting to start together go after the change instead of beside it.
    const waiting = snapshotSettings.followChanges ? s.gathering.get(who) : undefined;
    const asked = waiting ? [...waiting.members.entries()].map(([k, m]) => [k, m.obs] as const) : [];
    const wanted = then.map((o) => [keptKey(who, o.argv), o] as const);
    // Each once: what waits, what the caller wants read again, what the host has not run yet.
    const after = snapshotSettings.followChanges
      ? [
          ...new Map(
            [...asked, ...wanted, ...this.learntFor(s, who, waiting?.members, true)].map(([k, o]) => [k, [k, o] as const]),
          ).values(),
        ]
      : [];
    if (after.length === 0) return this.changing(host, () => run([]).change);
    if (waiting) {
      waiting.taken = true;
      s.gathering.delete(who);
    }
    // Alone: no other change of this process in flight as it starts, none started before it ends.
    const alone = s.changing === 0;
    const starts = s.starts + 1;
    const records: Started<R>[] = [];
    // Set when the change ends alone: the host's version from which its observations may be kept.
    const gate: { keepAt?: number } = {};
    try {
      return await this.changing(host, () => {
        const begun = { epoch: s.epoch, at: performance.now() };
        let started: ReturnType<FollowedChangeRunner<T, R>>;
        try {
          started = run(after.map(([, o]) => o));
        } catch (error) {
          // A runner that throws at once answers the change and every observation with its error.
          started = { change: Promise.reject(error), after: after.map(() => Promise.resolve({ ok: false as const, error })) };
        }
        after.forEach(([k], i) => {
          const record = this.track(s, k, started.after[i], { begun, keepable: () => gate.keepAt === s.version && s.changing === 0 });
          // Nobody may ask for it: that must not surface as an unhandled rejection.
          record.promise.catch(() => undefined);
          records.push(record);
          waiting?.members.get(k)?.settle(record.promise);
        });
        return started.change;
      });
    } finally {
      // `changing` has counted the change as completed and dropped what was kept.
      if (alone && s.starts === starts) {
        for (const r of records) r.epoch = s.epoch;
        gate.keepAt = s.version;
        // What is already done is kept now (the rest when it is done).
        records.forEach((r, i) => {
          if (r.value && s.changing === 0) s.kept.set(after[i][0], { at: performance.now(), value: r.value });
        });
      }
    }
  }

  /**
   * Records observation `k` as begun (`opts.begun`) in `recent` while it runs: its answer is the
   * runner's outcome (none is an internal error); it is forgotten from `recent` when it fails, and
   * kept when it succeeds while `opts.keepable()` holds, as of `opts.keptAt` (default: when it
   * ends). `opts.ended` runs first as it ends.
   */
  private track(
    s: HostState<R>,
    k: string,
    outcome: Promise<ObservationOutcome<R>> | undefined,
    opts: { begun: { epoch: number; at: number }; keepable: () => boolean; keptAt?: number; ended?: (p: Promise<R>) => void },
  ): Started<R> {
    const forget = () => {
      if (s.recent.get(k) === record) s.recent.delete(k);
    };
    const promise: Promise<R> = (
      outcome ?? Promise.resolve({ ok: false as const, error: new Error("internal error: an observation gave no result") })
    ).then(
      (r) => {
        opts.ended?.(promise);
        if (!r.ok || r.value.exitCode !== 0) forget();
        if (!r.ok) throw r.error;
        if (r.value.exitCode === 0) record.value = r.value;
        // Only a success is kept.
        if (opts.keepable() && r.value.exitCode === 0) s.kept.set(k, { at: opts.keptAt ?? performance.now(), value: r.value });
        return r.value;
      },
      (error) => {
        opts.ended?.(promise);
        forget();
        throw error;
      },
    );
    const record: Started<R> = { ...opts.begun, promise };
    s.recent.set(k, record);
    return record;
  }

  /**
   * What this process learnt, keyed for `who`, that `s` neither holds nor runs now and that is not
   * in `besides`; with `unseen`, only what has not started there in this operation. At most
   * {@link snapshotSettings.maxPrefetch}.
   */
  private learntFor(
    s: HostState<R>,
    who: string,
    besides: ReadonlyMap<string, unknown> | undefined,
    unseen: boolean,
  ): (readonly [string, Observation])[] {
    return [...this.learnt.values()]
      .map((o) => [keptKey(who, o.argv), o] as const)
      .filter(([k]) => !besides?.has(k) && !s.inFlight.has(k) && !this.keptValue(s, k) && !(unseen && s.recent.has(k)))
      .slice(0, snapshotSettings.maxPrefetch);
  }

  /** Forgets every host's kept observations (a new engine operation in the same process). */
  reset(): void {
    for (const s of this.hosts.values()) {
      this.drop(s);
      s.recent.clear();
    }
  }

  /** What is kept under `key` and not older than {@link snapshotSettings.maxAgeMs}. */
  private keptValue(s: HostState<R>, key: string): R | undefined {
    const k = s.kept.get(key);
    return k && performance.now() - k.at <= snapshotSettings.maxAgeMs ? k.value : undefined;
  }

  private drop(s: HostState<R>): void {
    s.version++;
    s.kept.clear();
    s.inFlight.clear();
  }

  private learn(obs: Observation): void {
    const key = argvKey(obs.argv);
    if (this.learnt.has(key)) return;
    const bytes = obs.argv.reduce((n, a) => n + Buffer.byteLength(a), 0);
    if (bytes > snapshotSettings.maxPrefetchBytes || this.learnt.size >= 4 * snapshotSettings.maxPrefetch) return;
    this.learnt.set(key, obs);
  }
}

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
 * apply re-checks what it changes under the host lock: answered from what was kept; a miss runs
 * only itself, since the change drops the rest at once), `"fresh"` (the plan of a change that
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

/** Runs observations on one host, in order, on one channel; answers for each. */
export type ObservationRunner<R> = (
  items: readonly Observation[],
) => Promise<Array<{ ok: true; value: R } | { ok: false; error: unknown }>>;

interface Kept<R> {
  at: number;
  value: R;
}

interface HostState<R> {
  /** Bumped whenever something else runs on the host. */
  version: number;
  /** Commands other than observations in flight on the host. */
  changing: number;
  kept: Map<string, Kept<R>>;
  inFlight: Map<string, Promise<R>>;
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
  /** Observations seen in this process, in the order first seen: what a host's first read prefetches. */
  private learnt = new Map<string, Observation>();
  /** Observations answered from what was kept (no remote command). */
  hits = 0;

  private state(host: string): HostState<R> {
    let s = this.hosts.get(host);
    if (!s) {
      s = { version: 0, changing: 0, kept: new Map(), inFlight: new Map() };
      this.hosts.set(host, s);
    }
    return s;
  }

  /**
   * The result of `obs` on `host` through connection identity `who`: kept from earlier in this
   * operation, joined to the same observation in flight, or run now (for a read, together with the
   * other observations this process learnt).
   */
  observe(host: string, who: string, obs: Observation, run: ObservationRunner<R>, use: SnapshotUse = "read"): Promise<R> {
    const s = this.state(host);
    const key = keptKey(who, obs.argv);
    this.learn(obs);
    const k = use === "fresh" ? undefined : this.keptValue(s, key);
    if (k) {
      this.hits++;
      return Promise.resolve(k);
    }
    // A fresh observation never joins one that started before it was asked for.
    const pending = use === "fresh" ? undefined : s.inFlight.get(key);
    if (pending) {
      this.hits++;
      return pending;
    }
    const extra = (use === "read" ? [...this.learnt.values()] : [])
      .map((o) => [keptKey(who, o.argv), o] as const)
      .filter(([k2]) => k2 !== key && !s.inFlight.has(k2) && !this.keptValue(s, k2))
      .slice(0, snapshotSettings.maxPrefetch);
    const items = [[key, obs] as const, ...extra];
    const version = s.version;
    const batch = run(items.map(([, o]) => o));
    const promises = items.map(([k2], i) => {
      // Settled before any caller resumes: a later call never joins a finished observation.
      const done = () => {
        if (s.inFlight.get(k2) === p) s.inFlight.delete(k2);
      };
      const p: Promise<R> = batch.then(
        (results) => {
          done();
          const r = results[i] ?? { ok: false as const, error: new Error("internal error: an observation gave no result") };
          if (!r.ok) throw r.error;
          // Kept only when nothing else ran on the host meanwhile, and only a success.
          if (s.version === version && s.changing === 0 && r.value.exitCode === 0)
            s.kept.set(k2, { at: performance.now(), value: r.value });
          return r.value;
        },
        (error) => {
          done();
          throw error;
        },
      );
      s.inFlight.set(k2, p);
      return p;
    });
    // A prefetched observation nobody asks for must not surface as an unhandled rejection.
    for (const p of promises.slice(1)) p.catch(() => undefined);
    return promises[0];
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
    try {
      return await fn();
    } finally {
      s.changing--;
      this.drop(s);
    }
  }

  /** Forgets every host's kept observations (a new engine operation in the same process). */
  reset(): void {
    for (const s of this.hosts.values()) this.drop(s);
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

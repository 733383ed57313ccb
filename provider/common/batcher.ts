/**
 * Per-host batching of the operations one provider process has in flight on one host. The engine
 * sends its steps one gRPC call at a time, at most `--parallel` at once, so the operations that
 * could share a host's work (one observation, one atomic apply) arrive in separate turns of the
 * event loop, a few milliseconds apart. A lane waits a short, bounded time for its siblings before
 * it starts a batch; calls arriving while a batch runs form the next one. The batcher knows nothing
 * about what a batch does: the caller's runner does the work and answers for each member.
 */

/** What one member of a batch ended with: its own value, or its own error. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Runs a whole batch and answers for each member, in order. Throwing fails every member. */
export type BatchRunner<M, R> = (members: M[]) => Promise<Settled<R>[]>;

/**
 * How long a lane waits for siblings before it starts a batch: until no call joined for `quietMs`,
 * and never longer than `maxWaitMs` after the lane became ready. The bound keeps a lone operation's
 * extra latency to a few milliseconds, far below one SSH round trip. Tests and benchmarks may
 * change it; `quietMs: 0` starts on the next turn of the event loop.
 */
export const batchSettings = {
  quietMs: envMs("CONNTRACK_BATCH_QUIET_MS", 4),
  maxWaitMs: envMs("CONNTRACK_BATCH_MAX_WAIT_MS", 20),
  /**
   * After its warmup, how long a batch may still wait for siblings the engine announced and has not
   * sent yet (`expecting`, see `common/announced.ts`).
   */
  graceMs: envMs("CONNTRACK_BATCH_GRACE_MS", 200),
};

function envMs(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
}

/**
 * Upper bound of a batch: a batch often travels as one argument of a remote command, and a failing
 * batch may be retried member by member, so a batch stays a size a host shell handles easily.
 */
export const MAX_BATCH = 64;

interface Waiting {
  batchKey: string;
  member: unknown;
  run: BatchRunner<unknown, unknown>;
  warmup?: () => Promise<unknown>;
  expecting?: () => number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Lane {
  waiting: Waiting[];
  /** Bumped by every call that joins: the settle wait watches it. */
  joins: number;
}

const lanes = new Map<string, Lane>();

/**
 * Runs `member` as part of a batch in lane `lane`. A lane is one host and purpose, and its name must
 * hold the complete connection identity (credentials and host key included, as the connection
 * pool's key does): operations that would not share a connection must never share a batch. Batches
 * of a lane run one after another. A batch is the first waiting call and the calls right behind it
 * with the same `batchKey`: calls that could not share its work keep their place in the queue, so
 * operations reach the host in the order in which they were issued, as with a plain queue. All calls
 * with one `batchKey` must pass the same `run`.
 *
 * `warmup`, when the member is the first of its batch, starts as the batch starts to wait for
 * siblings, and the batch waits for it too: a batch whose runner first reads the host (and can take
 * that read from the host's snapshot, `transport/snapshot.ts`) reads it while it gathers, so that
 * siblings arriving during the read still join.
 *
 * `expecting`, when the member is the first of its batch, counts the siblings the engine announced
 * and has not sent yet: after the warmup the batch waits for them while it is above 0, at most
 * {@link batchSettings.graceMs}.
 */
export function joinBatch<M, R>(
  lane: string,
  batchKey: string,
  member: M,
  run: BatchRunner<M, R>,
  warmup?: () => Promise<unknown>,
  expecting?: () => number,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let l = lanes.get(lane);
    const start = !l;
    if (!l) {
      l = { waiting: [], joins: 0 };
      lanes.set(lane, l);
    }
    l.joins++;
    l.waiting.push({
      batchKey,
      member,
      run: run as BatchRunner<unknown, unknown>,
      warmup,
      expecting,
      resolve: resolve as (v: unknown) => void,
      reject,
    });
    if (start) void drain(lane, l);
  });
}

/**
 * Waits until no call joined the lane for `quietMs`, at most `maxWaitMs` in all, and until `warm`
 * (the batch's warmup) is done; then, while `expecting` counts announced siblings, at most
 * `graceMs` more.
 */
async function settle(l: Lane, warm?: Promise<unknown>, expecting?: () => number): Promise<void> {
  await timeWindow(l);
  if (warm) {
    await warm;
    // Siblings that joined during the warmup's last turn still make it.
    await new Promise((r) => setImmediate(r));
  }
  if (!expecting) return;
  const deadline = performance.now() + batchSettings.graceMs;
  while (expecting() > 0 && l.waiting.length < MAX_BATCH && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 3));
  }
}

async function timeWindow(l: Lane): Promise<void> {
  const { quietMs, maxWaitMs } = batchSettings;
  if (quietMs <= 0) {
    await new Promise((r) => setImmediate(r));
    return;
  }
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const seen = l.joins;
    const left = deadline - performance.now();
    if (left <= 0) return;
    await new Promise((r) => setTimeout(r, Math.min(quietMs, left)));
    if (l.joins === seen || l.waiting.length >= MAX_BATCH) return;
  }
}

async function drain(key: string, l: Lane): Promise<void> {
  while (l.waiting.length > 0) {
    // A warmup's failure is the runner's to meet (it reads again); it never fails the batch here.
    const warm = l.waiting[0].warmup?.().catch(() => undefined);
    await settle(l, warm, l.waiting[0].expecting);
    const head = l.waiting[0];
    let n = 1;
    while (n < l.waiting.length && n < MAX_BATCH && l.waiting[n].batchKey === head.batchKey) n++;
    const batch = l.waiting.splice(0, n);
    let results: Settled<unknown>[];
    try {
      results = await head.run(batch.map((w) => w.member));
    } catch (error) {
      results = batch.map(() => ({ ok: false as const, error }));
    }
    batch.forEach((w, i) => {
      const r = results[i] ?? { ok: false as const, error: new Error("internal error: a batch gave no result for one of its members") };
      if (r.ok) w.resolve(r.value);
      else w.reject(r.error);
    });
  }
  // No await between the empty check and here: a call joining now finds no lane and starts one.
  lanes.delete(key);
}

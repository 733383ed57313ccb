/**
 * Coalescing of the operations that one provider process runs on one host at the same time. The
 * engine starts the creates (or deletes, or reads) of every resource it can at once; the NOTRACK
 * rules of one host share its raw table and saved-ruleset file, so instead of each observing and
 * applying in turn they wait in the host's lane and go as one batch: one observe, one apply.
 */

/** What one member of a batch ended with: its own value, or its own error. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Runs a whole batch and answers for each member, in order. Throwing fails every member. */
export type BatchRunner<M, R> = (members: M[]) => Promise<Settled<R>[]>;

interface Waiting {
  batchKey: string;
  member: unknown;
  run: BatchRunner<unknown, unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Lane {
  waiting: Waiting[];
}

/**
 * Upper bound of a batch: the live batch travels as one argument of the remote command, and a
 * failing batch is retried member by member, so a batch stays a size a host shell handles easily.
 */
const MAX_BATCH = 64;

const lanes = new Map<string, Lane>();

/**
 * Runs `member` as part of a batch in lane `lane` (one lane per host and purpose). Batches of a lane
 * run one after another. A batch is the first waiting call and the calls right behind it with the
 * same `batchKey`: calls that could not share its work keep their place in the queue, so the order
 * in which operations reach the host is the order in which they were issued, as with a plain
 * queue. Calls issued in the same tick join the same batch (the lane starts on the next turn of the
 * event loop); calls arriving while a batch runs form the next one. All calls with one `batchKey`
 * must pass the same `run`.
 */
export function joinBatch<M, R>(lane: string, batchKey: string, member: M, run: BatchRunner<M, R>): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let l = lanes.get(lane);
    const start = !l;
    if (!l) {
      l = { waiting: [] };
      lanes.set(lane, l);
    }
    l.waiting.push({ batchKey, member, run: run as BatchRunner<unknown, unknown>, resolve: resolve as (v: unknown) => void, reject });
    if (start) setImmediate(() => void drain(lane, l));
  });
}

async function drain(key: string, l: Lane): Promise<void> {
  while (l.waiting.length > 0) {
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
      const r = results[i] ?? { ok: false as const, error: new Error("internal error: a NotrackRule batch gave no result for one of its members") };
      if (r.ok) w.resolve(r.value);
      else w.reject(r.error);
    });
  }
  // No await between the empty check and here: a call joining now finds no lane and starts one.
  lanes.delete(key);
}

/** The generic per-host batcher: coalescing across ticks, bounded waiting, order, lanes. */
import { afterEach, describe, expect, it } from "vitest";
import { batchSettings, joinBatch, MAX_BATCH, type Settled } from "../../../provider/common/batcher";

const saved = { ...batchSettings };
afterEach(() => Object.assign(batchSettings, saved));

const tick = () => new Promise((r) => setImmediate(r));

function recorder() {
  const calls: string[][] = [];
  const run = async (ms: string[]): Promise<Settled<string>[]> => {
    calls.push(ms);
    return ms.map((m) => (m.startsWith("bad") ? { ok: false, error: new Error(`refused ${m}`) } : { ok: true, value: m.toUpperCase() }));
  };
  return { calls, run };
}

describe("joinBatch (common)", () => {
  it("joins calls that arrive in separate turns of the event loop into one batch", async () => {
    // A wide window, so that a loaded machine cannot split the batch: the test is about behaviour.
    Object.assign(batchSettings, { quietMs: 200, maxWaitMs: 5000 });
    const { calls, run } = recorder();
    const ps: Promise<string>[] = [];
    for (const m of ["a", "b", "c", "d"]) {
      ps.push(joinBatch("c-lane-1", "k", m, run));
      await tick();
    }
    expect(await Promise.all(ps)).toEqual(["A", "B", "C", "D"]);
    expect(calls).toEqual([["a", "b", "c", "d"]]);
  });

  it("answers each member with its own result or error", async () => {
    const { run } = recorder();
    const r = await Promise.allSettled(["a", "bad-b", "c"].map((m) => joinBatch("c-lane-2", "k", m, run)));
    expect(r.map((x) => (x.status === "fulfilled" ? x.value : (x.reason as Error).message))).toEqual(["A", "refused bad-b", "C"]);
  });

  it("never waits beyond its bound: a steady stream of calls is cut into several batches", async () => {
    Object.assign(batchSettings, { quietMs: 50, maxWaitMs: 60 });
    const { calls, run } = recorder();
    const ps: Promise<string>[] = [];
    const until = performance.now() + 400;
    for (let i = 0; performance.now() < until; i++) {
      ps.push(joinBatch("c-lane-3", "k", `m${i}`, run));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(ps);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.flat()).toEqual(ps.map((_, i) => `m${i}`));
  });

  it("keeps lanes apart and the order of calls that cannot share a batch", async () => {
    const { calls, run } = recorder();
    await Promise.all([
      joinBatch("c-lane-4", "create", "a", run),
      joinBatch("c-lane-5", "create", "other-host", run),
      joinBatch("c-lane-4", "delete", "x", run),
      joinBatch("c-lane-4", "create", "b", run),
    ]);
    expect(calls).toContainEqual(["other-host"]);
    expect(calls.filter((c) => c[0] !== "other-host")).toEqual([["a"], ["x"], ["b"]]);
  });

  it(`caps a batch at ${MAX_BATCH} members`, async () => {
    const { calls, run } = recorder();
    await Promise.all(Array.from({ length: MAX_BATCH + 3 }, (_, i) => joinBatch("c-lane-6", "k", `m${i}`, run)));
    expect(calls.map((c) => c.length)).toEqual([MAX_BATCH, 3]);
  });

  it("starts on the next turn of the event loop with quietMs 0", async () => {
    Object.assign(batchSettings, { quietMs: 0 });
    const { calls, run } = recorder();
    const first = joinBatch("c-lane-7", "k", "a", run);
    await first;
    await joinBatch("c-lane-7", "k", "b", run);
    expect(calls).toEqual([["a"], ["b"]]);
  });

  it("after its warmup, waits for siblings the engine announced, and no longer than graceMs", async () => {
    Object.assign(batchSettings, { quietMs: 1, maxWaitMs: 5, graceMs: 2000 });
    const { calls, run } = recorder();
    let announced = 2;
    const expecting = () => announced;
    const warmup = () => new Promise<void>((r) => setTimeout(r, 10));
    const first = joinBatch("c-lane-8", "k", "a", run, warmup, expecting);
    // The warmup is over, and the two announced siblings come one after another, 50 ms apart.
    const later: Promise<string>[] = [];
    for (const m of ["b", "c"]) {
      await new Promise((r) => setTimeout(r, 50));
      announced--;
      later.push(joinBatch("c-lane-8", "k", m, run, warmup, expecting));
    }
    expect(await Promise.all([first, ...later])).toEqual(["A", "B", "C"]);
    expect(calls).toEqual([["a", "b", "c"]]);

    // A sibling that never comes holds the batch for graceMs at most.
    Object.assign(batchSettings, { graceMs: 60 });
    const t0 = performance.now();
    await joinBatch("c-lane-9", "k", "x", run, warmup, () => 1);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(60);
    expect(waited).toBeLessThan(1500);
    expect(calls.at(-1)).toEqual(["x"]);
  });
});

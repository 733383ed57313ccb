import { afterAll, beforeAll, expect, it } from "vitest";
import { resetHost } from "../lab/inventory";
import { assertBuilt } from "./harness";
import { leaksIn, leaksInLogs, type Needle } from "./credentials";
import type { Engine, OperationResult, Step } from "./engine";
import { passiveOpens, snapshotHosts, type HostExec } from "./lab-hosts";

/** Provider calls that reach a host (`check` and `diff` never do). */
export const HOST_CALLS = ["create", "read", "update", "delete"] as const;

/** What one resource lifecycle test declares; {@link lifecycle} runs the stages in order. */
export interface LifecycleSpec {
  /** The engine, set up with the initial config (created lazily: the lab may be absent). */
  engine: () => Engine;
  /** Lab hosts the program touches. */
  hosts: readonly string[];
  /** The lab's `hostExec`. */
  run: HostExec;
  /** Config for the changed-input stage. */
  changedConfig: () => Record<string, unknown>;
  /** Expected op per resource name at the changed-input stage (others: same; new names: create). */
  changeOps: Record<string, "update" | "replace" | "create" | "delete">;
  /** Independent checks of the hosts after the first up (and again after the no-change up). */
  afterCreate?: () => Promise<void>;
  /** Independent checks after the changed input was applied. */
  afterChange?: () => Promise<void>;
  /** Checks of each operation's result (e.g. parallelism), called after every operation. */
  onResult?: (r: OperationResult) => void;
  /** A change made by hand on a host, behind the program's back. */
  drift: () => Promise<void>;
  /** Resources whose refresh must show the drift. */
  drifted: readonly string[];
  /** Credentials that must never appear in plain text in state or logs ({@link credentialNeedles}). */
  credentials: readonly Needle[];
}

/** Each host's snapshot as a sorted list of lines: equal when only the order of lines differs. */
function linesOf(snapshots: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(snapshots).map(([h, s]) => [h, s.split("\n").sort()]));
}

/** Steps of components and custom resources (the stack itself left out). */
export function resourceSteps(r: OperationResult): Step[] {
  return r.steps.filter((s) => s.type !== "pulumi:pulumi:Stack");
}

/** `name: op` for each resource step, sorted: reads well in a failed assertion. */
export function opsOf(r: OperationResult): Record<string, string> {
  return Object.fromEntries(
    resourceSteps(r)
      .map((s) => [s.name, s.op])
      .sort(),
  );
}

/** Fails with the operation's errors and the non-debug log when it did not succeed. */
export function expectOk(r: OperationResult): void {
  if (!r.ok) {
    const log = r.logs.filter((l) => !l.source.includes("debug")).map((l) => `${l.source}: ${l.line}`);
    expect.fail(`${r.kind} failed:\n${r.errors.join("\n")}\n--- log\n${log.join("\n")}`);
  }
}

/**
 * The lifecycle every resource and the fleet program go through, as `it` blocks in order:
 * up; up again with no change (no host is touched); preview and up of a changed input; a change by
 * hand that refresh reports and the next up repairs (the same lines on the hosts, maybe in another
 * order: a rule put back goes to the end of its chain); destroy, after which every host equals, byte
 * for byte, its snapshot from before the first up; and no credential in plain text in the state
 * file (after every operation) or in any log line.
 */
export function lifecycle(spec: LifecycleSpec): { results: OperationResult[] } {
  const out = { results: [] as OperationResult[] };
  let before: Record<string, string> = {};
  let afterUp: Record<string, string> = {};
  let afterChange: Record<string, string> = {};
  let names: string[] = [];
  const opens = async () =>
    Object.fromEntries(await Promise.all(spec.hosts.map(async (h) => [h, await passiveOpens(h, spec.run)] as const)));
  const leaks: string[] = [];
  const op = async (f: () => Promise<OperationResult>) => {
    const r = await f();
    out.results.push(r);
    spec.onResult?.(r);
    const state = spec.engine().state;
    if (state.exists()) leaks.push(...leaksIn(state.raw(), spec.credentials, `state after ${r.kind}`));
    leaks.push(...leaksInLogs(r.logs, spec.credentials, `log of ${r.kind}`));
    return r;
  };

  it("up creates every resource", async () => {
    before = await snapshotHosts(spec.hosts, spec.run);
    const r = await op(() => spec.engine().up());
    expectOk(r);
    names = resourceSteps(r).map((s) => s.name);
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(Object.values(opsOf(r)))).toEqual(new Set(["create"]));
    await spec.afterCreate?.();
    afterUp = await snapshotHosts(spec.hosts, spec.run);
  });

  it("up again with no change touches no host", async () => {
    const o = await opens();
    const r = await op(() => spec.engine().up());
    expectOk(r);
    expect(Object.values(opsOf(r)).every((x) => x === "same")).toBe(true);
    expect(r.calls.filter((c) => (HOST_CALLS as readonly string[]).includes(c.method))).toEqual([]);
    expect(await opens()).toEqual(o);
    expect(await snapshotHosts(spec.hosts, spec.run)).toEqual(afterUp);
    await spec.afterCreate?.();
  });

  it("preview of a changed input shows it without touching a host, and up applies it", async () => {
    const e = spec.engine();
    e.setConfig(spec.changedConfig());
    const o = await opens();
    const pv = await op(() => e.preview());
    expectOk(pv);
    const expected = Object.fromEntries(
      [...new Set([...names, ...Object.keys(spec.changeOps)])].map((n) => [n, spec.changeOps[n] ?? "same"]),
    );
    expect(opsOf(pv)).toEqual(Object.fromEntries(Object.entries(expected).sort()));
    expect(pv.calls.filter((c) => (HOST_CALLS as readonly string[]).includes(c.method))).toEqual([]);
    expect(await opens()).toEqual(o);
    expect(await snapshotHosts(spec.hosts, spec.run)).toEqual(afterUp);
    const r = await op(() => e.up());
    expectOk(r);
    expect(opsOf(r)).toEqual(opsOf(pv));
    await spec.afterChange?.();
    afterChange = await snapshotHosts(spec.hosts, spec.run);
  });

  it("a change made by hand shows in refresh and the next up repairs it", async () => {
    await spec.drift();
    const drifted = await snapshotHosts(spec.hosts, spec.run);
    expect(drifted).not.toEqual(afterChange);
    const rf = await op(() => spec.engine().refresh());
    expectOk(rf);
    const shown = resourceSteps(rf)
      .filter((s) => s.drift || s.gone)
      .map((s) => s.name)
      .sort();
    expect(shown).toEqual([...spec.drifted].sort());
    expect(await snapshotHosts(spec.hosts, spec.run)).toEqual(drifted);
    const r = await op(() => spec.engine().up());
    expectOk(r);
    const changed = resourceSteps(r)
      .filter((s) => s.op !== "same")
      .map((s) => s.name)
      .sort();
    expect(changed).toEqual([...spec.drifted].sort());
    // A rule put back is appended to its chain: the same lines, maybe in another order.
    expect(linesOf(await snapshotHosts(spec.hosts, spec.run))).toEqual(linesOf(afterChange));
    await spec.afterChange?.();
  });

  it("destroy leaves every host byte for byte as before the first up", async () => {
    const r = await op(() => spec.engine().destroy());
    expectOk(r);
    expect(
      resourceSteps(r)
        .map((s) => s.op)
        .every((x) => x === "delete"),
    ).toBe(true);
    expect(spec.engine().current().resources).toEqual([]);
    const after = await snapshotHosts(spec.hosts, spec.run);
    for (const h of spec.hosts) expect(after[h], `host ${h}`).toBe(before[h]);
  });

  it("no credential appeared in plain text in the state file or any log line", () => {
    expect(out.results.length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });

  return out;
}

/**
 * The setup every lab suite of the engine shares: the built package is checked, the suite's hosts
 * are reset before and after, and a fresh engine (a new stack) is made before the first test.
 * Returns a getter, since the engine exists only once `beforeAll` has run.
 */
export function engineOnResetHosts(hosts: readonly string[], make: () => Engine): () => Engine {
  let engine: Engine | undefined;
  beforeAll(async () => {
    assertBuilt();
    for (const h of hosts) await resetHost(h);
    engine = make();
  });
  afterAll(async () => {
    for (const h of hosts) await resetHost(h);
  });
  return () => {
    if (!engine) throw new Error("engine used before beforeAll ran");
    return engine;
  };
}

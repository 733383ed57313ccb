import { expect, it } from "vitest";
import { opsByName, type CliRun, type RealStack } from "../../scripts/real-engine";
import { leaksIn, type Needle } from "../engine/credentials";
import { passiveOpens, snapshotHosts, type HostExec } from "../engine/lab-hosts";
import { expectExit, isEncryptedSecret, nameOf } from "./real";

/** What one lifecycle on the real CLI declares; {@link realLifecycle} runs the stages in order. */
export interface RealLifecycleSpec {
  stack: () => RealStack;
  hosts: readonly string[];
  run: HostExec;
  /** Independent checks of the hosts after the first up. */
  afterCreate?: () => Promise<void>;
  /** Config for the changed-input stage, and the op expected per resource (others: same). */
  changedConfig: () => Record<string, unknown>;
  changeOps: Record<string, "update" | "replace" | "create" | "delete">;
  /** Independent checks after the changed input was applied (and after the repair). */
  afterChange?: () => Promise<void>;
  /** A change made by hand on a host, behind the program's back (after the changed input). */
  drift: () => Promise<void>;
  /** Resources whose refresh must show the drift. */
  drifted: readonly string[];
  credentials: readonly Needle[];
}

/** Each host's snapshot as a sorted list of lines: equal when only the order of lines differs. */
function linesOf(snapshots: Record<string, string>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(snapshots).map(([h, s]) => [h, s.split("\n").sort()]));
}

/** Resources whose step in this run was not `same` (refresh: whose outputs the read changed). */
export function changed(r: CliRun): string[] {
  const ops = opsByName(r, r.op === "refresh" ? "outputs" : "pre");
  return Object.entries(ops)
    .filter(([, op]) => op !== "same" && op !== "refresh")
    .map(([n]) => n)
    .sort();
}

/**
 * The lifecycle of a program on the real Pulumi CLI, as `it` blocks in order: `pulumi up`;
 * `pulumi preview --expect-no-changes` (exit 0, no host contacted); `preview` and `up` of a changed
 * input (the expected update/replace per resource, no host contacted by the preview); a change by hand that
 * `pulumi refresh` reports; `pulumi up` repairs it; `pulumi destroy` leaves every host byte for
 * byte as before the first up. After every operation: `pulumi stack export` and the CLI's output
 * hold no credential in plain text, and every resource's `connection` is an encrypted secret.
 */
export function realLifecycle(spec: RealLifecycleSpec): { runs: CliRun[] } {
  const out = { runs: [] as CliRun[] };
  let before: Record<string, string> = {};
  let afterUp: Record<string, string> = {};
  let afterChange: Record<string, string> = {};
  let names: string[] = [];
  const leaks: string[] = [];
  const notSecret: string[] = [];
  const opens = async () =>
    Object.fromEntries(await Promise.all(spec.hosts.map(async (h) => [h, await passiveOpens(h, spec.run)] as const)));
  const op = async (name: string, flags: string[] = []) => {
    const r = await spec.stack().run(name, flags);
    out.runs.push(r);
    const exported = spec.stack().exportText();
    leaks.push(
      ...leaksIn(exported, spec.credentials, `stack export after ${name}`),
      ...leaksIn(r.stdout + r.stderr, spec.credentials, `output of ${name}`),
    );
    for (const res of (JSON.parse(exported).deployment.resources ?? []) as {
      urn: string;
      custom: boolean;
      type: string;
      inputs?: Record<string, unknown>;
      outputs?: Record<string, unknown>;
    }[]) {
      if (!res.custom || res.type.startsWith("pulumi:providers:")) continue;
      if (!isEncryptedSecret(res.inputs?.connection)) notSecret.push(`${nameOf(res.urn)} inputs.connection after ${name}`);
      if (!isEncryptedSecret(res.outputs?.connection)) notSecret.push(`${nameOf(res.urn)} outputs.connection after ${name}`);
    }
    return r;
  };

  it("pulumi up creates every resource", async () => {
    before = await snapshotHosts(spec.hosts, spec.run);
    const r = await op("up");
    expectExit(r);
    const ops = opsByName(r);
    names = Object.keys(ops);
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(Object.values(ops))).toEqual(new Set(["create"]));
    expect(r.stdout).toMatch(new RegExp(`\\+ ${names.length + 1} created`));
    await spec.afterCreate?.();
    afterUp = await snapshotHosts(spec.hosts, spec.run);
  });

  it("pulumi preview --expect-no-changes: no change, and no host contacted", async () => {
    const o = await opens();
    const r = await op("preview", ["--expect-no-changes"]);
    expectExit(r);
    expect(Object.values(opsByName(r)).every((x) => x === "same")).toBe(true);
    expect(r.stdout).toMatch(new RegExp(`${names.length + 1} unchanged`));
    expect(await opens()).toEqual(o);
    expect(await snapshotHosts(spec.hosts, spec.run)).toEqual(afterUp);
  });

  it("pulumi preview of a changed input shows it without touching a host, and pulumi up applies it", async () => {
    spec.stack().setConfig(spec.changedConfig());
    const o = await opens();
    const pv = await op("preview");
    expectExit(pv);
    const expected = Object.fromEntries(names.map((n) => [n, spec.changeOps[n] ?? "same"]).sort());
    expect(opsByName(pv)).toEqual(expected);
    expect(await opens()).toEqual(o);
    expect(await snapshotHosts(spec.hosts, spec.run)).toEqual(afterUp);
    const r = await op("up");
    expectExit(r);
    expect(Object.fromEntries(Object.entries(opsByName(r)).filter(([n]) => names.includes(n)))).toEqual(expected);
    await spec.afterChange?.();
    afterChange = await snapshotHosts(spec.hosts, spec.run);
  });

  it("a change by hand shows in pulumi refresh, which changes nothing on the host", async () => {
    await spec.drift();
    const drifted = await snapshotHosts(spec.hosts, spec.run);
    expect(drifted).not.toEqual(afterChange);
    const r = await op("refresh");
    expectExit(r);
    expect(changed(r)).toEqual([...spec.drifted].sort());
    for (const n of spec.drifted) expect(r.stdout).toContain(n);
    expect(await snapshotHosts(spec.hosts, spec.run)).toEqual(drifted);
  });

  it("pulumi up repairs the drift", async () => {
    const r = await op("up");
    expectExit(r);
    expect(changed(r)).toEqual([...spec.drifted].sort());
    // A rule put back is appended to its chain: the same lines, maybe in another order.
    expect(linesOf(await snapshotHosts(spec.hosts, spec.run))).toEqual(linesOf(afterChange));
    await spec.afterChange?.();
  });

  it("pulumi destroy leaves every host byte for byte as before the first up", async () => {
    const r = await op("destroy");
    expectExit(r);
    expect(new Set(Object.values(opsByName(r)))).toEqual(new Set(["delete"]));
    expect(r.stdout).toMatch(new RegExp(`- ${names.length + 1} deleted`));
    expect(
      spec
        .stack()
        .resources()
        .filter((x) => x.custom),
    ).toEqual([]);
    const after = await snapshotHosts(spec.hosts, spec.run);
    for (const h of spec.hosts) expect(after[h], `host ${h}`).toBe(before[h]);
  });

  it("no credential in plain text in stack export or the CLI's output; connection always an encrypted secret", () => {
    expect(out.runs.length).toBe(7);
    expect(leaks).toEqual([]);
    expect(notSecret).toEqual([]);
  });

  return out;
}

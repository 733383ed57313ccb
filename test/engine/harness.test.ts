import { existsSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "./engine";
import { engineFor, PROGRAMS, stackDir } from "./harness";
import { expectOk, opsOf } from "./lifecycle";
import { isSecret, reveal, SECRET_SIG, SIG_KEY } from "./wire";
import { leaksIn, leaksInLogs } from "./credentials";

// The harness itself, on a program whose dynamic resource is defined inline and manages files in a
// local directory: no host, no root, so these rules are checked on every machine.
const PROGRAM = path.join(PROGRAMS, "local-files");
const TOKEN = `harness-token-${Math.random().toString(36).slice(2)}`;

describe("engine harness on a local dynamic resource", () => {
  let dir: string;
  let files: string;
  let engine: Engine;
  const cfg = (f: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    dir: files,
    files: f,
    token: { secret: TOKEN },
    ...extra,
  });
  const read = (name: string) => readFileSync(path.join(files, name), "utf8");
  const calls = (r: { calls: { method: string; urn: string }[] }) => r.calls.map((c) => `${c.method} ${c.urn.split("::").pop()}`);

  beforeAll(() => {
    dir = stackDir("harness");
    files = path.join(dir, "files");
    require("node:fs").mkdirSync(files);
    engine = engineFor(PROGRAM, dir, cfg({ a: "alpha", b: "beta" }));
  });

  it("up runs the program under the SDK launcher and creates through the dynamic-provider server", async () => {
    const r = await engine.up();
    expectOk(r);
    expect(opsOf(r)).toEqual({ a: "create", b: "create" });
    expect(calls(r)).toEqual(["check a", "create a", "check b", "create b"]);
    expect(read("a")).toBe("alpha");
    const [, a] = engine.current().resources;
    expect(a.type).toBe("pulumi-nodejs:dynamic/harness:LocalFile");
    expect(a.urn).toBe("urn:pulumi:test::harness-local-files::pulumi-nodejs:dynamic/harness:LocalFile::a");
    expect(typeof a.inputs.__provider).toBe("string");
    expect(a.outputs.__provider).toBe(a.inputs.__provider);
  });

  it("marks secrets as the engine does and writes them to state only encrypted", async () => {
    const [, a, b] = engine.current().resources;
    // Secret in the program (config.requireSecret) -> secret input and, by name, secret output.
    expect(isSecret(a.inputs.token)).toBe(true);
    expect(isSecret(a.outputs.token)).toBe(true);
    // additionalSecretOutputs -> secret output, though no input of that name was secret.
    expect(isSecret(a.outputs.length)).toBe(true);
    expect(reveal(a.outputs.length)).toBe(5);
    // Plain values stay plain.
    expect(a.outputs.content).toBe("alpha");
    expect(b.dependencies).toEqual([a.urn]);
    const raw = engine.state.raw();
    expect(raw).toContain(SECRET_SIG);
    expect(raw).toContain('"ciphertext"');
    expect(leaksIn(raw, [{ what: "token", value: TOKEN }], "state")).toEqual([]);
    expect(leaksInLogs(engine.allLogs, [{ what: "token", value: TOKEN }], "logs")).toEqual([]);
    // The program saw the secret outputs as secrets (stack outputs keep the wrapper).
    const lengths = (await engine.up()).outputs.lengths as Record<string, unknown>;
    expect(lengths.a).toEqual({ [SIG_KEY]: SECRET_SIG, value: 5 });
  });

  it("up with no change calls only Check and Diff, with the stored OUTPUTS as the olds of Diff", async () => {
    const r = await engine.up();
    expectOk(r);
    expect(opsOf(r)).toEqual({ a: "same", b: "same" });
    expect(calls(r)).toEqual(["check a", "diff a", "check b", "diff b"]);
  });

  it("preview shows an update and changes nothing; up updates", async () => {
    engine.setConfig(cfg({ a: "alpha 2", b: "beta" }));
    const pv = await engine.preview();
    expectOk(pv);
    expect(opsOf(pv)).toEqual({ a: "update", b: "same" });
    expect(pv.steps.find((s) => s.name === "a")?.diffs).toEqual(["content"]);
    expect(read("a")).toBe("alpha");
    const r = await engine.up();
    expectOk(r);
    expect(opsOf(r)).toEqual({ a: "update", b: "same" });
    expect(read("a")).toBe("alpha 2");
  });

  it("preview passes unknown values: a dependent of a replaced resource sees its id as unknown", async () => {
    engine.setConfig(cfg({ a: { content: "alpha 2", file: "a2" }, b: "beta" }));
    const pv = await engine.preview();
    expectOk(pv);
    expect(opsOf(pv)).toEqual({ a: "replace", b: "update" });
    expect(pv.steps.find((s) => s.name === "a")?.replaces).toEqual(["path"]);
    // b's `after` is a's id: unknown until a is replaced, so b's diff saw the sentinel.
    expect(pv.steps.find((s) => s.name === "b")?.diffs).toEqual(["after"]);
    expect(existsSync(path.join(files, "a2"))).toBe(false);
  });

  it("replace creates the new object first and deletes the old one after the program", async () => {
    const r = await engine.up();
    expectOk(r);
    expect(opsOf(r)).toEqual({ a: "replace", b: "update" });
    expect(calls(r)).toEqual(["check a", "diff a", "create a", "check b", "diff b", "update b", "delete a"]);
    expect(readdirSync(files).sort()).toEqual(["a2", "b"]);
    const b = engine.current().resources.find((x) => x.urn.endsWith("::b"))!;
    expect(b.inputs.after).toBe(path.join(files, "a2"));
    expect(engine.current().resources.some((x) => x.delete)).toBe(false);
  });

  it("refresh shows a change made by hand, stores the inputs read back, and the next up repairs it", async () => {
    writeFileSync(path.join(files, "b"), "changed by hand");
    const rf = await engine.refresh();
    expectOk(rf);
    expect(rf.steps.filter((s) => s.drift).map((s) => [s.name, s.diffs])).toEqual([["b", ["content", "length"]]]);
    const b = engine.current().resources.find((x) => x.urn.endsWith("::b"))!;
    expect(b.inputs.content).toBe("changed by hand");
    // Secretness survives a refresh (by the old outputs' marks and additionalSecretOutputs).
    expect(isSecret(b.outputs.length) && isSecret(b.outputs.token)).toBe(true);
    const pv = await engine.preview();
    expect(opsOf(pv)).toEqual({ a: "same", b: "update" });
    const r = await engine.up();
    expectOk(r);
    expect(read("b")).toBe("beta");
  });

  it("refresh drops a resource whose object is gone, and up creates it again", async () => {
    rmSync(path.join(files, "a2"));
    const rf = await engine.refresh();
    expectOk(rf);
    expect(rf.steps.filter((s) => s.gone).map((s) => s.name)).toEqual(["a"]);
    expect(engine.current().resources.map((x) => x.urn.split("::").pop())).not.toContain("a");
    const r = await engine.up();
    expectOk(r);
    expect(opsOf(r).a).toBe("create");
    expect(read("a2")).toBe("alpha 2");
  });

  it("a failed Check stops the update before any change, with the property and reason", async () => {
    engine.setConfig(cfg({ a: { content: "alpha 2", file: "a2" }, b: "forbidden" }));
    const r = await engine.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toContain("content: must not say forbidden");
    expect(calls(r)).not.toContain("update b");
    expect(read("b")).toBe("beta");
  });

  it("resources the program drops are deleted after it runs", async () => {
    engine.setConfig(cfg({ a: { content: "alpha 2", file: "a2" } }));
    const r = await engine.up();
    expectOk(r);
    expect(opsOf(r)).toEqual({ a: "same", b: "delete" });
    expect(readdirSync(files)).toEqual(["a2"]);
  });

  it("independent resources are processed in parallel, as the engine's default --parallel", async () => {
    const e = engineFor(PROGRAM, stackDir("harness-par"), cfg({ p: "1", q: "2", r: "3", s: "4" }, { chain: false }), "par");
    const r = await e.up();
    expectOk(r);
    expect(r.maxInFlight).toBeGreaterThan(1);
    expectOk(await e.destroy());
  });

  it("destroy deletes dependents first and leaves an empty stack", async () => {
    engine.setConfig(cfg({ a: { content: "alpha 2", file: "a2" }, b: "beta" }));
    expectOk(await engine.up());
    const r = await engine.destroy();
    expectOk(r);
    expect(calls(r)).toEqual(["delete b", "delete a"]);
    expect(readdirSync(files)).toEqual([]);
    expect(engine.current().resources).toEqual([]);
  });
});

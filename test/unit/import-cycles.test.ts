import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// A module graph without cycles reads top to bottom: a cycle means a type or function lives in the
// wrong file (and, at run time, one side of it sees the other half-initialised).
const ROOT = resolve(__dirname, "../../provider");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
  });
}

/** The provider files a file imports or re-exports (type-only imports included: they still tie the files together). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+["'](\.[^"']*)["']/gms)) {
    const base = resolve(dirname(file), m[1]);
    const target = [`${base}.ts`, join(base, "index.ts")].find((p) => existsSync(p));
    if (target) out.push(target);
  }
  return out;
}

/** Every cycle, each once, as the relative paths around it. */
function findCycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === "open") cycles.push(stack.slice(stack.indexOf(g)).map((p) => relative(ROOT, p)));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

describe("provider/ module graph", () => {
  it("has no import cycle", () => {
    const files = sourceFiles(ROOT);
    expect(files.length).toBeGreaterThan(20);
    expect(findCycles(files).map((c) => c.join(" -> "))).toEqual([]);
  });

  it("keeps resource folders apart: what two kinds share lives in transport/ or common/", () => {
    const resources = join(ROOT, "resources");
    const folderOf = (p: string) => relative(resources, p).split("/")[0];
    // The one dependency by design: ConntrackHelperRule is NotrackRule's machinery (rule syntax,
    // batch, observation, apply) with another action, not a copy of it.
    const allowed = (from: string, to: string) => from === "helper-rule" && to === "notrack-rule";
    const crossings = sourceFiles(resources).flatMap((f) =>
      importsOf(f)
        .filter((g) => g.startsWith(`${resources}/`) && folderOf(g) !== folderOf(f) && relative(resources, g) !== "index.ts")
        .filter((g) => relative(resources, f) !== "index.ts" && !allowed(folderOf(f), folderOf(g)))
        .map((g) => `${relative(ROOT, f)} -> ${relative(ROOT, g)}`),
    );
    expect(crossings).toEqual([]);
  });
});

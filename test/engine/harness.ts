import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Engine, type EngineOptions } from "./engine";

/** Repository root. */
export const REPO = path.resolve(__dirname, "..", "..");
/** Test programs of the harness. */
export const PROGRAMS = path.join(__dirname, "programs");

/**
 * Password the tests put in every connection next to the key, so that the secrets test has a
 * second credential to look for. Random per run: it can only be found where the code put it.
 */
export const TEST_PASSWORD = `harness-pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;

const made: string[] = [];
process.on("exit", () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory for a test file's stacks, removed when the test process exits. */
export function stackDir(label: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `ctk-engine-${label}-`));
  made.push(d);
  return d;
}

/** An engine for a program directory with its state in `dir`. */
export function engineFor(projectDir: string, dir: string, config: Record<string, unknown>, stack = "test"): Engine {
  const o: EngineOptions = { projectDir, stack, stateFile: path.join(dir, `${stack}.json`), config };
  return new Engine(o);
}

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (e.name.endsWith(ext)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let warned = false;

/**
 * Throws unless `dist/` is built and the package resolves by name: the serialized provider
 * requires the built package, not the sources. Warns (once) when a source under `provider/` is newer
 * than the build, since the tests then run the code as last built (`npm test` always builds first;
 * a hard failure here would only catch a colleague's edit in the middle of a run).
 */
export function assertBuilt(): void {
  const dist = path.join(REPO, "dist", "provider");
  if (!existsSync(path.join(dist, "runtime", "index.js"))) throw new Error("dist/ is not built: run `npm run build` (npm test does)");
  if (!warned && newestMtime(path.join(REPO, "provider"), ".ts") > newestMtime(dist, ".js")) {
    warned = true;
    console.warn("test/engine: dist/ is older than provider/: testing the code as last built (run `npm run build`)");
  }
  if (!existsSync(path.join(REPO, "node_modules", "pulumi-conntrack", "package.json"))) {
    throw new Error(
      "node_modules/pulumi-conntrack is missing: run `npm ci` (package.json links the package to itself as a devDependency, file:.)",
    );
  }
}

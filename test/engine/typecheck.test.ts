import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, REPO } from "./harness";

// The programs a user runs (the fleet, the examples) and the demo are outside the repository's own
// tsconfig: each is checked here against the built package, resolved by name as a user's would be.
const PROJECTS = [
  "fleet/tsconfig.json",
  "examples/dns-servers/tsconfig.json",
  "examples/nat-free-host/tsconfig.json",
  "scripts/demo.tsconfig.json",
];

describe("programs outside the package typecheck against the built package", () => {
  beforeAll(() => assertBuilt());
  for (const p of PROJECTS) {
    it(p, () => {
      const tsc = require.resolve("typescript/bin/tsc");
      const r = spawnSync(process.execPath, [tsc, "-p", path.join(REPO, p), "--noEmit"], { cwd: REPO, encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    });
  }
});

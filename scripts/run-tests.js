// Runs the vitest suite (all tiers, or the arguments given) and ends with one plain summary line
// ("tests: N passed, N failed, N skipped") that any CI log reader understands. Exits with vitest's code.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const results = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ctk-vitest-")), "results.json");
const vitest = path.join(__dirname, "..", "node_modules", "vitest", "vitest.mjs");
const r = spawnSync(
  process.execPath,
  [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${results}`, ...process.argv.slice(2)],
  {
    stdio: "inherit",
  },
);
let summary = "tests: no results file (vitest did not finish)";
try {
  const j = JSON.parse(fs.readFileSync(results, "utf8"));
  const skipped = (j.numPendingTests || 0) + (j.numTodoTests || 0);
  summary = `tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`;
  if (j.numTotalTests === 0) summary += " (no test ran)";
} catch {
  /* summary says so */
}
console.log(`\n${summary}`);
process.exit(r.status === null ? 1 : r.status);

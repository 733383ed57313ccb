/**
 * vitest globalSetup for the real-engine tests (lab project): builds the pinned Pulumi CLI when this
 * machine has none (scripts/pulumi-cli.sh, progress on stderr; once per machine). Without a Go
 * toolchain it says so and the real-engine tests skip; any other build failure fails the run.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { isRoot } from "../lab/inventory";

export default function setup(): void {
  // The real-engine tests need the lab, which needs root: no build when they cannot run.
  if (!isRoot()) return;
  const r = spawnSync("bash", [path.join(__dirname, "..", "..", "scripts", "pulumi-cli.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status === 3) {
    console.warn("real-engine tests skipped: no Go toolchain to build the Pulumi CLI (scripts/pulumi-cli.sh)");
    return;
  }
  if (r.status !== 0) throw new Error(`scripts/pulumi-cli.sh failed (exit ${r.status}): the Pulumi CLI could not be built`);
}

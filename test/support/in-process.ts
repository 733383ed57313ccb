/**
 * Setup of the lab and VM tiers. Their tests call the handlers in the test process, one operation
 * after another, and change hosts by hand between them: each call is its own engine operation, so
 * the per-operation host snapshot (provider/transport/snapshot.ts) is off here. Provider processes
 * the tests start (the engine stand-in, the real CLI, the fault suite's providers) live for one
 * operation, as the engine's do, and keep the default. `test/lab/snapshot.test.ts` turns it on.
 */
import { createRequire } from "node:module";
import { snapshotSettings } from "../../provider/transport/snapshot";

snapshotSettings.enabled = false;
// The built package (what `require("pulumi-conntrack/runtime")` in a resource's provider loads) is
// another module instance.
try {
  (createRequire(__filename)("pulumi-conntrack/runtime") as { snapshotSettings: typeof snapshotSettings }).snapshotSettings.enabled = false;
} catch {
  // Not built: nothing in this process can load it either.
}

/**
 * Setup of the lab and VM tiers. Their tests call the handlers in the test process, one operation
 * after another, and change hosts by hand between them: each call is its own engine operation, so
 * the per-operation host snapshot (provider/transport/snapshot.ts) and the connections opened ahead
 * of a change (provider/transport/preconnect.ts) are off here. Provider processes
 * the tests start (the engine stand-in, the real CLI, the fault suite's providers) live for one
 * operation, as the engine's do, and keep the default. `test/lab/snapshot.test.ts` turns it on.
 */
import { createRequire } from "node:module";
import { preconnectSettings } from "../../provider/transport/preconnect";
import { snapshotSettings } from "../../provider/transport/snapshot";

snapshotSettings.enabled = false;
preconnectSettings.enabled = false;
// The built package (what `require("pulumi-conntrack/runtime")` in a resource's provider loads) is
// another module instance.
try {
  const built = createRequire(__filename)("pulumi-conntrack/runtime") as {
    snapshotSettings: typeof snapshotSettings;
    preconnectSettings?: typeof preconnectSettings;
  };
  built.snapshotSettings.enabled = false;
  // Absent from a build older than this file.
  if (built.preconnectSettings) built.preconnectSettings.enabled = false;
} catch {
  // Not built: nothing in this process can load it either.
}

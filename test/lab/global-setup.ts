/**
 * vitest globalSetup for the `lab` project: makes sure a 14-host lab is running.
 *
 * - Not root: logs that the tier is skipped and does nothing (tests then skip themselves
 *   through `requireLab`).
 * - A lab with 14 hosts already running: reused, and left running afterwards.
 * - Otherwise: `lab.sh up 14`, and `lab.sh down` at the end unless `CONNTRACK_LAB_KEEP=1`.
 */
import { isRoot, labCommand, labRunning } from "./inventory";

/** Number of hosts the lab tier runs with. */
const LAB_HOSTS = 16;

/**
 * Brings the lab up (or reuses a running one).
 *
 * @returns a teardown that stops the lab if this setup started it, or nothing.
 * @throws when `lab.sh up` fails.
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (!isRoot()) {
    console.warn("lab tier skipped: needs root");
    return undefined;
  }
  const reused = labRunning(LAB_HOSTS);
  const up = await labCommand(["up", String(LAB_HOSTS)]);
  if (up.code !== 0) {
    throw new Error(`lab.sh up ${LAB_HOSTS} failed (exit ${up.code}):\n${up.stderr}`);
  }
  if (reused) return undefined;

  return async () => {
    if (process.env.CONNTRACK_LAB_KEEP === "1") {
      console.warn("lab kept running (CONNTRACK_LAB_KEEP=1); stop it with: npm run lab -- down");
      return;
    }
    const down = await labCommand(["down"]);
    if (down.code !== 0) console.warn(`lab.sh down failed (exit ${down.code}):\n${down.stderr}`);
  };
}

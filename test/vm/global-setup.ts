/**
 * Vitest globalSetup of the `vm` project: boots the real-kernel VM (`test/vm/vm.sh up`, which
 * builds the guest image first when it is not cached: minutes) and stops it afterwards when this
 * run started it.
 *
 * Skipped (the tests then skip themselves) when not root, when qemu-system-x86_64 is missing, or
 * when `CONNTRACK_VM_SKIP=1`. `CONNTRACK_VM_KEEP=1` leaves a VM this run started running.
 * A failing build or boot fails the run rather than silently skipping the tier.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const VM_SH = path.resolve(__dirname, "vm.sh");

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

function vmIsUp(): boolean {
  return spawnSync("bash", [VM_SH, "status"], { stdio: "ignore" }).status === 0;
}

/**
 * Starts the VM when the tier can run here.
 *
 * @returns a teardown that runs `vm.sh down` when this call started the VM (unless
 *   `CONNTRACK_VM_KEEP=1`), or nothing when the tier is skipped or the VM was already up.
 */
export default function setup(): (() => void) | undefined {
  const why =
    process.env.CONNTRACK_VM_SKIP === "1"
      ? "CONNTRACK_VM_SKIP=1"
      : process.getuid?.() !== 0
        ? "not running as root"
        : !onPath("qemu-system-x86_64")
          ? "qemu-system-x86_64 not found"
          : undefined;
  if (why) {
    console.warn(`[vm] VM tier skipped: ${why}`);
    return undefined;
  }

  const wasUp = vmIsUp();
  const started = Date.now();
  // Inherit stdio: the build prints progress lines for minutes on a cold cache.
  execFileSync("bash", [VM_SH, "up"], { stdio: ["ignore", "inherit", "inherit"] });
  if (wasUp) {
    console.log("[vm] VM tier: using the VM that was already up (left running afterwards)");
    return undefined;
  }
  console.log(`[vm] VM tier up in ${Math.round((Date.now() - started) / 1000)} s`);
  return () => {
    if (process.env.CONNTRACK_VM_KEEP === "1") {
      console.log("[vm] CONNTRACK_VM_KEEP=1: leaving the VM running (stop it: npm run vm -- down)");
      return;
    }
    execFileSync("bash", [VM_SH, "down"], { stdio: ["ignore", "inherit", "inherit"] });
  };
}

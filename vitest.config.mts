import { defineConfig } from "vitest/config";

// Three tiers: unit (no root, no network), lab (network-namespace hosts with real sshd on this
// machine, root only; programs on the real Pulumi CLI and on the engine stand-in), vm (a modular
// Debian kernel under qemu, root only, slow to boot).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          setupFiles: ["test/support/unit.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "lab",
          include: [
            "test/lab/**/*.test.ts",
            "test/engine/**/*.test.ts",
            "test/engine-real/**/*.test.ts",
            "test/fault/**/*.test.ts",
            "test/consumer/**/*.test.ts",
          ],
          // The lab, then the pinned Pulumi CLI the real-engine tests run (built once per machine).
          globalSetup: ["test/lab/global-setup.ts", "test/engine-real/global-setup.ts"],
          setupFiles: ["test/support/in-process.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // One lab for the whole tier: files share it and each uses its own hosts.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "vm",
          include: ["test/vm/**/*.test.ts"],
          globalSetup: ["test/vm/global-setup.ts"],
          setupFiles: ["test/support/in-process.ts"],
          testTimeout: 300_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

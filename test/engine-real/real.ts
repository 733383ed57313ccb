import * as path from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { isRoot, LAB_SKIP_MESSAGE, labRunning, loadLab, resetHost, type LabInventory } from "../lab/inventory";
import { pulumiCliCached, type RealStack, REPO, type CliRun } from "../../scripts/real-engine";

/** The lab, when this process may use it. */
export const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

/** The pinned CLI (built by the lab tier's globalSetup), when there is one. */
export const cli = lab ? pulumiCliCached() : undefined;

/** Why the real-engine tests skip, or undefined when they run. */
export const SKIP = !lab
  ? LAB_SKIP_MESSAGE
  : !cli
    ? "no Pulumi CLI: scripts/pulumi-cli.sh could not build it (no Go toolchain)"
    : undefined;
if (SKIP) console.warn(`real-engine tests skipped: ${SKIP}`);

export { REPO };
export const EXAMPLES = path.join(REPO, "examples");
export const PROGRAMS = path.join(REPO, "test", "engine-real", "programs");

/** Fails with the CLI's output unless it exited with `code`. */
export function expectExit(r: CliRun, code = 0): void {
  if (r.exitCode !== code)
    expect.fail(
      `pulumi ${r.op} ${r.args.join(" ")} exited ${r.exitCode}, expected ${code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
}

/** The `hosts` config entries for lab hosts (name, address, hostKey). */
export function hostsConfig(names: readonly string[]): { name: string; address: string; hostKey: string }[] {
  return names.map((n) => {
    const h = lab!.hosts.find((x) => x.name === n);
    if (!h) throw new Error(`lab has no host ${n}`);
    return { name: h.name, address: h.address, hostKey: h.hostKey };
  });
}

/**
 * A stack on the real CLI for one describe block: its hosts reset before and after, and whatever
 * the stack still holds destroyed (protection lifted) and its state removed at the end.
 */
export function stackOnResetHosts(hosts: readonly string[], make: () => RealStack): () => RealStack {
  let stack: RealStack | undefined;
  beforeAll(async () => {
    for (const h of hosts) await resetHost(h);
    stack = make();
  });
  afterAll(async () => {
    if (stack) {
      let left: ReturnType<RealStack["resources"]> = [];
      try {
        left = stack.resources().filter((r) => r.custom);
      } catch {
        /* no stack was made */
      }
      for (const r of left.filter((x) => x.protect)) stack.pulumi(["state", "unprotect", "--stack", stack.stack, "--yes", r.urn]);
      if (left.length) await stack.run("destroy");
      stack.remove();
    }
    for (const h of hosts) await resetHost(h);
  });
  return () => {
    if (!stack) throw new Error("stack used before beforeAll ran");
    return stack;
  };
}

/** A secret as `pulumi stack export` writes it (encrypted). */
export function isEncryptedSecret(v: unknown): boolean {
  const o = v as Record<string, unknown> | null;
  return (
    !!o &&
    typeof o === "object" &&
    o["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270" &&
    typeof o.ciphertext === "string" &&
    !("plaintext" in o)
  );
}

/** Resource name from a URN. */
export const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

/**
 * Per-test timeout of this tier: one CLI operation is 10-60 s on the shared 2-core machine (the
 * CLI and the plugins start for each), and a test runs up to three.
 */
export const REAL_TIMEOUT = 600_000;

// Warnings reach the engine's log, not only an output (issue 12, item 8). The dynamic provider runs
// as its own process; the engine passes it the engine's address as its first argument (exactly as
// the CLI does), and provider/runtime/engine-log.ts sends every `warnings` entry of create, read and
// update there with Engine.Log at WARNING severity. This proves it end to end through the stand-in:
// the warning appears in the operation's logs as a warning from the engine's Log service.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import type { LogLine } from "./engine";
import { engineFor, PROGRAMS, stackDir } from "./harness";
import { hostsConfig, onHost } from "./lab-hosts";
import { engineOnResetHosts } from "./lifecycle";

const HOSTS = ["ctlab9", "ctlab10"] as const;
const PROGRAM = path.join(PROGRAMS, "lab-resources");
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

function config(): Record<string, unknown> {
  return {
    hosts: hostsConfig(lab!, HOSTS),
    keyFile: lab!.privateKeyPath,
    resources: [
      // The lab kernel (6.x) has no toggle: a modprobe.d line setting it is stale, which is a warning.
      { kind: "ConntrackHelperSetting", name: "helper-9", host: "ctlab9" },
      // `blacklist` mode is weak: a warning.
      { kind: "ModuleBlacklist", name: "weak-10", host: "ctlab10", args: { modules: ["nf_conntrack_ftp"], mode: "blacklist" } },
    ],
  };
}

/** Warning-level lines of the engine's Log service (the provider's and the program's). */
function warnings(logs: LogLine[]): string[] {
  return logs.filter((l) => /^program warning/.test(l.source)).map((l) => l.line);
}

/**
 * The stand-in serves its Engine service only while a program runs (up, preview); for refresh it
 * gives the provider an address nothing listens on (the real CLI always serves one). The provider
 * then falls back to its standard error, `warning: <message>`, which the engine shows too.
 */
function stderrWarnings(logs: LogLine[]): string[] {
  return logs.filter((l) => l.source === "provider stderr" && l.line.startsWith("warning: ")).map((l) => l.line.slice("warning: ".length));
}

describe.skipIf(!lab)("warnings go to the engine log (lab hosts ctlab9, ctlab10)", () => {
  const engine = engineOnResetHosts(HOSTS, () => engineFor(PROGRAM, stackDir("warnings"), config()));

  it("create, refresh and update log each resource's warnings at warning level, named by type and id", async () => {
    await onHost("ctlab9", "printf 'options nf_conntrack nf_conntrack_helper=1\\n' > /etc/modprobe.d/zz-local.conf", hostExec);
    try {
      const up = await engine().up();
      expect(up.errors).toEqual([]);
      const w = warnings(up.logs);
      const helperId = "nf_conntrack_helper@" + lab!.hosts.find((h) => h.name === "ctlab9")!.address + ":22";
      expect(w).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^ConntrackHelperSetting ${helperId.replace(/[.[\]]/g, "\\$&")}: /etc/modprobe\\.d/zz-local\\.conf:1 .*sets nf_conntrack_helper, which this kernel does not have`,
          ),
        ),
      );
      expect(w).toContainEqual(expect.stringMatching(/^ModuleBlacklist .*pulumi-conntrack-blacklist\.conf: mode "blacklist" is weak/));
      // Not a warning: the informational notes stay outputs only.
      expect(w.join("\n")).not.toMatch(/Flows that already got a helper keep it/);

      const refresh = await engine().refresh();
      expect(refresh.errors).toEqual([]);
      // The read path logs them too (through the stderr fallback in the stand-in, see above).
      expect(warnings(refresh.logs)).toEqual([]);
      expect(stderrWarnings(refresh.logs)).toContainEqual(expect.stringMatching(/^ModuleBlacklist .*: mode "blacklist" is weak/));
      expect(stderrWarnings(refresh.logs)).toContainEqual(expect.stringMatching(/^ConntrackHelperSetting .*zz-local\.conf:1/));

      // The stale line removed: the helper warns no more, the blacklist still does.
      await onHost("ctlab9", "rm -f /etc/modprobe.d/zz-local.conf", hostExec);
      const again = await engine().refresh();
      expect(stderrWarnings(again.logs).filter((l) => l.startsWith("ConntrackHelperSetting"))).toEqual([]);
      expect(stderrWarnings(again.logs)).toContainEqual(expect.stringMatching(/^ModuleBlacklist .*: mode "blacklist" is weak/));
      // An up with no change calls no provider method (as with the real engine): nothing is logged.
      const up2 = await engine().up();
      expect(up2.errors).toEqual([]);
      expect(warnings(up2.logs)).toEqual([]);
    } finally {
      await onHost("ctlab9", "rm -f /etc/modprobe.d/zz-local.conf", hostExec);
      await engine().destroy();
    }
  });
});

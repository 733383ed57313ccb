import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import { plainOutputs } from "./engine";
import { credentialNeedles } from "./credentials";
import { engineFor, PROGRAMS, stackDir } from "./harness";
import { hostsConfig, onHost, snapshotHost } from "./lab-hosts";
import { engineOnResetHosts, expectOk, lifecycle } from "./lifecycle";

const HOSTS = ["ctlab9", "ctlab10"] as const;
const PROGRAM = path.join(PROGRAMS, "lab-resources");
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

function config(helper10: Record<string, unknown>): Record<string, unknown> {
  return {
    hosts: hostsConfig(lab!, HOSTS),
    keyFile: lab!.privateKeyPath,
    resources: [
      { kind: "ConntrackHelperSetting", name: "helper-9", host: "ctlab9", args: {} },
      { kind: "ConntrackHelperSetting", name: "helper-10", host: "ctlab10", args: helper10 },
    ],
  };
}

describe.skipIf(!lab)("ConntrackHelperSetting through the engine (lab, kernel without the toggle)", () => {
  const engine = engineOnResetHosts(HOSTS, () => engineFor(PROGRAM, stackDir("helper"), config({})));

  const stale = "/etc/modprobe.d/pulumi-conntrack-helper.conf";
  lifecycle({
    engine,
    hosts: HOSTS,
    run: hostExec,
    changedConfig: () => config({ fileName: "pulumi-conntrack-helper-b.conf" }),
    // Another file is another object: replaced, the old one removed first.
    changeOps: { "helper-10": "replace" },
    afterCreate: async () => {
      // Linux >= 6.0 has no toggle: "off" holds without writing anything.
      for (const h of HOSTS) expect(await onHost(h, `ls -A /etc/modprobe.d`, hostExec)).toBe("");
      const r = engine()
        .current()
        .resources.find((x) => x.urn.endsWith("::helper-9"))!;
      expect(plainOutputs(r)).toMatchObject({ toggle: "removed", enabled: false, stateVersion: 1 });
    },
    afterChange: async () => {
      const r = engine()
        .current()
        .resources.find((x) => x.urn.endsWith("::helper-10"))!;
      expect(plainOutputs(r)).toMatchObject({ fileName: "pulumi-conntrack-helper-b.conf" });
    },
    // A stale option line put back by hand in the resource's own file: noise on this kernel.
    drift: () => onHost("ctlab9", `printf 'options nf_conntrack nf_conntrack_helper=1\\n' > ${stale}`, hostExec).then(() => undefined),
    drifted: ["helper-9"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });

  it("a program the host cannot carry out fails with the host named and changes nothing", async () => {
    const before = await snapshotHost("ctlab10", hostExec);
    const e = engineFor(PROGRAM, stackDir("helper-fail"), {
      ...config({}),
      resources: [{ kind: "ConntrackHelperSetting", name: "helper-on", host: "ctlab10", args: { enabled: true } }],
    });
    const r = await e.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toMatch(/10\.213\.0\.20/);
    expect(e.current().resources.filter((x) => x.custom)).toEqual([]);
    expect(await snapshotHost("ctlab10", hostExec)).toBe(before);
    expectOk(await e.destroy());
  });
});

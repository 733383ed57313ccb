import * as path from "node:path";
import { describe, expect } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import { credentialNeedles } from "./credentials";
import { engineFor, PROGRAMS, stackDir } from "./harness";
import { hostsConfig, onHost } from "./lab-hosts";
import { engineOnResetHosts, lifecycle } from "./lifecycle";

const HOSTS = ["ctlab9", "ctlab10"] as const;
const PROGRAM = path.join(PROGRAMS, "lab-resources");
const FILE = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

function config(bl9: Record<string, unknown>, bl10: Record<string, unknown>): Record<string, unknown> {
  return {
    hosts: hostsConfig(lab!, HOSTS),
    keyFile: lab!.privateKeyPath,
    resources: [
      { kind: "ModuleBlacklist", name: "no-nat-9", host: "ctlab9", args: { modules: ["iptable_nat", "nf_nat", "nf_conntrack"], ...bl9 } },
      { kind: "ModuleBlacklist", name: "no-ct-10", host: "ctlab10", args: { modules: ["nf_conntrack"], mode: "blacklist", ...bl10 } },
    ],
  };
}

describe.skipIf(!lab)("ModuleBlacklist through the engine (lab; modules built in, so the files are what is checked)", () => {
  const engine = engineOnResetHosts(HOSTS, () => engineFor(PROGRAM, stackDir("blacklist"), config({}, {})));

  lifecycle({
    engine,
    hosts: HOSTS,
    run: hostExec,
    // Another module in the list is the same file rewritten; another file is another object.
    changedConfig: () =>
      config({ modules: ["iptable_nat", "nf_nat", "nf_conntrack", "nf_defrag_ipv4"] }, { fileName: "no-conntrack.conf" }),
    changeOps: { "no-nat-9": "update", "no-ct-10": "replace" },
    afterCreate: async () => {
      const f9 = await onHost("ctlab9", `cat ${FILE}`, hostExec);
      for (const m of ["iptable_nat", "nf_nat", "nf_conntrack"]) {
        expect(f9).toContain(`install ${m} /bin/false\n`);
        expect(f9).toContain(`blacklist ${m}\n`);
      }
      const f10 = await onHost("ctlab10", `cat ${FILE}`, hostExec);
      expect(f10).toContain("blacklist nf_conntrack\n");
      expect(f10).not.toContain("install ");
    },
    afterChange: async () => {
      expect(await onHost("ctlab9", `cat ${FILE}`, hostExec)).toContain("install nf_defrag_ipv4 /bin/false\n");
      expect(await onHost("ctlab10", "ls /etc/modprobe.d", hostExec)).toBe("no-conntrack.conf\n");
    },
    // The hardening line taken out by hand: `blacklist` alone would let nf_conntrack load again.
    drift: () => onHost("ctlab9", `sed -i '/^install nf_conntrack /d' ${FILE}`, hostExec).then(() => undefined),
    drifted: ["no-nat-9"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });
});

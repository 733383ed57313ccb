import { describe, expect } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import { credentialNeedles } from "./credentials";
import { engineFor, REPO, stackDir, TEST_PASSWORD } from "./harness";
import { onHost } from "./lab-hosts";
import { engineOnResetHosts, lifecycle } from "./lifecycle";

// The root fleet program (Pulumi.yaml + fleet/), stack `lab` (Pulumi.lab.yaml) with its hosts
// pointed at this test's two lab hosts, and a (wrong) password next to the key so that both
// credentials are searched for in state and logs.
const HOSTS = ["ctlab9", "ctlab10"] as const;
const BLACKLIST = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

const RULES = ["tcp", "udp"].flatMap((p) => ["in-dport", "out-sport", "out-dport", "in-sport"].map((d) => `${p}-${d}`));

function config(changed: boolean): Record<string, unknown> {
  return {
    privateKeyFile: lab!.privateKeyPath,
    knownHostsFile: lab!.knownHostsPath,
    password: { secret: TEST_PASSWORD },
    hosts: [
      { name: "ctlab9", address: "10.213.0.19", profile: "dns" },
      { name: "ctlab10", address: "10.213.0.20", profile: "nat-free" },
    ],
    profiles: {
      dns: {
        helperAssignment: false,
        notrack: [{ port: 53, protocols: ["tcp", "udp"], role: "both", ...(changed ? { families: ["ipv4", "ipv6"] } : {}) }],
      },
      "nat-free": {
        helperAssignment: false,
        keepOut: { modules: ["iptable_nat", "nf_nat", "nf_conntrack", ...(changed ? ["nf_defrag_ipv4"] : [])], mode: "disable" },
      },
    },
  };
}

describe.skipIf(!lab)("the fleet program through the engine (lab)", () => {
  const engine = engineOnResetHosts(HOSTS, () => engineFor(REPO, stackDir("fleet"), config(false), "lab"));

  lifecycle({
    engine,
    hosts: HOSTS,
    run: hostExec,
    changedConfig: () => config(true),
    changeOps: {
      "ctlab10-keep-out": "update",
      ...Object.fromEntries(RULES.map((r) => [`ctlab9-notrack-53-ipv6-${r}`, "create" as const])),
    },
    afterCreate: async () => {
      const nft = await onHost("ctlab9", "nft list ruleset", hostExec);
      for (const r of RULES) expect(nft).toContain(`pulumi-conntrack:ctlab9-notrack-53-ipv4-${r}:`);
      expect(await onHost("ctlab10", `cat ${BLACKLIST}`, hostExec)).toContain("install nf_conntrack /bin/false\n");
    },
    afterChange: async () => {
      const nft = await onHost("ctlab9", "nft list ruleset", hostExec);
      for (const r of RULES) expect(nft).toContain(`pulumi-conntrack:ctlab9-notrack-53-ipv6-${r}:`);
      expect(await onHost("ctlab10", `cat ${BLACKLIST}`, hostExec)).toContain("install nf_defrag_ipv4 /bin/false\n");
    },
    // One rule deleted by hand on the DNS host, the blacklist file edited on the other.
    drift: async () => {
      await onHost(
        "ctlab9",
        `h=$(nft -a list chain inet pulumi_conntrack prerouting | awk '/ctlab9-notrack-53-ipv4-udp-in-dport/ {print $NF}'); nft delete rule inet pulumi_conntrack prerouting handle "$h"`,
        hostExec,
      );
      await onHost("ctlab10", `sed -i '/^install nf_nat /d' ${BLACKLIST}`, hostExec);
    },
    drifted: ["ctlab9-notrack-53-ipv4-udp-in-dport", "ctlab10-keep-out"],
    onResult: (r) => {
      // Operations that reach hosts run in parallel, as with the engine's default --parallel.
      if (r.kind !== "preview" && r.calls.length > 4) expect(r.maxInFlight).toBeGreaterThan(1);
    },
    credentials: lab ? credentialNeedles(lab.privateKeyPath, TEST_PASSWORD) : [],
  });
});

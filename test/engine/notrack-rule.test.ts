import * as path from "node:path";
import { describe, expect } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import { credentialNeedles } from "./credentials";
import { engineFor, PROGRAMS, stackDir } from "./harness";
import { hostsConfig, onHost } from "./lab-hosts";
import { engineOnResetHosts, lifecycle } from "./lifecycle";

const HOSTS = ["ctlab9", "ctlab10"] as const;
const PROGRAM = path.join(PROGRAMS, "lab-resources");
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

function config(rule9: Record<string, unknown>, rule10: Record<string, unknown>): Record<string, unknown> {
  return {
    hosts: hostsConfig(lab!, HOSTS),
    keyFile: lab!.privateKeyPath,
    resources: [
      // Default backend: what the host runs (the lab's hosts: nftables).
      {
        kind: "NotrackRule",
        name: "dns-in-9",
        host: "ctlab9",
        args: { chain: "PREROUTING", protocol: "udp", destinationPort: 53, ...rule9 },
      },
      // iptables (here its nf_tables variant), IPv6.
      {
        kind: "NotrackRule",
        name: "dns-out-10",
        host: "ctlab10",
        args: { chain: "OUTPUT", protocol: "tcp", sourcePort: 53, family: "ipv6", backend: "iptables", ...rule10 },
      },
    ],
  };
}

describe.skipIf(!lab)("NotrackRule through the engine (lab)", () => {
  const engine = engineOnResetHosts(HOSTS, () => engineFor(PROGRAM, stackDir("notrack"), config({}, {})));

  lifecycle({
    engine,
    hosts: HOSTS,
    run: hostExec,
    // A port is changed in place; another family is another rule.
    changedConfig: () => config({ destinationPort: 5353 }, { family: "ipv4" }),
    changeOps: { "dns-in-9": "update", "dns-out-10": "replace" },
    afterCreate: async () => {
      expect(await onHost("ctlab9", "nft list ruleset", hostExec)).toMatch(
        /udp dport 53 counter packets \d+ bytes \d+ notrack comment "pulumi-conntrack:dns-in-9:/,
      );
      const v6 = await onHost("ctlab10", "ip6tables-save -t raw", hostExec);
      expect(v6).toMatch(/-A OUTPUT -p tcp .*--sport 53 .*pulumi-conntrack:dns-out-10:.* -j (CT --notrack|NOTRACK)/);
      expect(await onHost("ctlab10", "iptables-save -t raw", hostExec)).not.toMatch(/pulumi-conntrack/);
    },
    afterChange: async () => {
      const nft = await onHost("ctlab9", "nft list ruleset", hostExec);
      expect(nft).toMatch(/udp dport 5353 counter packets \d+ bytes \d+ notrack/);
      expect(nft).not.toMatch(/dport 53 /);
      expect(await onHost("ctlab10", "iptables-save -t raw", hostExec)).toMatch(/--sport 53 .*pulumi-conntrack:dns-out-10:/);
      expect(await onHost("ctlab10", "ip6tables-save -t raw", hostExec)).not.toMatch(/pulumi-conntrack/);
    },
    // The live rule removed by hand (the saved copy in /etc/nftables.conf stays).
    drift: () => onHost("ctlab9", "nft flush chain inet pulumi_conntrack prerouting", hostExec).then(() => undefined),
    drifted: ["dns-in-9"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });
});

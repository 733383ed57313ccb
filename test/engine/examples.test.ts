import * as path from "node:path";
import { describe, expect } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import { credentialNeedles } from "./credentials";
import { engineFor, REPO, stackDir } from "./harness";
import { onHost } from "./lab-hosts";
import { engineOnResetHosts, lifecycle } from "./lifecycle";

// The examples, as a user would run them (stack `lab`, their own Pulumi.lab.yaml), with the hosts
// pointed at this test's lab hosts.
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;
const RULES = ["tcp", "udp"].flatMap((p) => ["in-dport", "out-sport", "out-dport", "in-sport"].map((d) => `ipv4-${p}-${d}`));

describe.skipIf(!lab)("examples/dns-servers through the engine (lab)", () => {
  const HOSTS = ["ctlab9", "ctlab10"] as const;
  const config = (extra: Record<string, unknown> = {}) => ({
    privateKeyFile: lab!.privateKeyPath,
    knownHostsFile: lab!.knownHostsPath,
    hosts: [
      { name: "ctlab9", address: "10.213.0.19" },
      { name: "ctlab10", address: "10.213.0.20" },
    ],
    ...extra,
  });
  const engine = engineOnResetHosts(HOSTS, () => engineFor(path.join(REPO, "examples", "dns-servers"), stackDir("dns-servers"), config(), "lab"));

  lifecycle({
    engine,
    hosts: HOSTS,
    run: hostExec,
    // Moving the rules from the host's nftables to iptables: each rule is another object.
    changedConfig: () => config({ backend: "iptables" }),
    changeOps: Object.fromEntries(HOSTS.flatMap((h) => RULES.map((r) => [`${h}-dns-${r}`, "replace" as const]))),
    afterCreate: async () => {
      for (const h of HOSTS) {
        const nft = await onHost(h, "nft list ruleset", hostExec);
        for (const r of RULES) expect(nft).toContain(`pulumi-conntrack:${h}-dns-${r}:`);
      }
    },
    afterChange: async () => {
      for (const h of HOSTS) {
        const saved = await onHost(h, "iptables-save -t raw", hostExec);
        for (const r of RULES) expect(saved).toContain(`pulumi-conntrack:${h}-dns-${r}:`);
        expect(await onHost(h, "nft list ruleset", hostExec)).not.toContain("inet pulumi_conntrack");
      }
    },
    drift: async () => {
      await onHost("ctlab10", `r=$(iptables -t raw -S | grep 'ctlab10-dns-ipv4-udp-in-dport'); eval "iptables -t raw \${r/-A /-D }"`, hostExec);
    },
    drifted: ["ctlab10-dns-ipv4-udp-in-dport"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });
});

describe.skipIf(!lab)("examples/nat-free-host through the engine (lab)", () => {
  const HOSTS = ["ctlab10"] as const;
  const FILE = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
  const config = (extra: Record<string, unknown> = {}) => ({
    privateKeyFile: lab!.privateKeyPath,
    knownHostsFile: lab!.knownHostsPath,
    host: { name: "ctlab10", address: "10.213.0.20" },
    ...extra,
  });
  const engine = engineOnResetHosts(HOSTS, () => engineFor(path.join(REPO, "examples", "nat-free-host"), stackDir("nat-free-host"), config(), "lab"));

  lifecycle({
    engine,
    hosts: HOSTS,
    run: hostExec,
    changedConfig: () => config({ modules: ["iptable_nat", "ip6table_nat", "nft_chain_nat", "nf_nat", "nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6"] }),
    changeOps: { "ctlab10-no-conntrack": "update" },
    afterCreate: async () => {
      const f = await onHost("ctlab10", `cat ${FILE}`, hostExec);
      for (const m of ["iptable_nat", "ip6table_nat", "nft_chain_nat", "nf_nat", "nf_conntrack"]) expect(f).toContain(`install ${m} /bin/false\n`);
    },
    afterChange: async () => {
      expect(await onHost("ctlab10", `cat ${FILE}`, hostExec)).toContain("install nf_defrag_ipv6 /bin/false\n");
    },
    drift: () => onHost("ctlab10", `rm ${FILE}`, hostExec).then(() => undefined),
    drifted: ["ctlab10-no-conntrack"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });
});

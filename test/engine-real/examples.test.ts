import * as path from "node:path";
import { describe, expect } from "vitest";
import { RealStack } from "../../scripts/real-engine";
import { hostExec } from "../lab/inventory";
import { credentialNeedles } from "../engine/credentials";
import { onHost } from "../engine/lab-hosts";
import { realLifecycle } from "./lifecycle";
import { EXAMPLES, lab, SKIP, stackOnResetHosts, REAL_TIMEOUT } from "./real";

// The examples as a user runs them, on the real Pulumi CLI (local file backend), hosts pointed at
// this tier's lab hosts.
const RULES = ["tcp", "udp"].flatMap((p) => ["in-dport", "out-sport", "out-dport", "in-sport"].map((d) => `ipv4-${p}-${d}`));

describe.skipIf(SKIP)("examples/dns-servers on the real Pulumi CLI (lab)", { timeout: REAL_TIMEOUT }, () => {
  const HOSTS = ["ctlab9", "ctlab10"] as const;
  const config = (extra: Record<string, unknown> = {}) => ({
    privateKeyFile: lab!.privateKeyPath,
    knownHostsFile: lab!.knownHostsPath,
    hosts: HOSTS.map((n) => ({ name: n, address: lab!.hosts.find((h) => h.name === n)!.address })),
    ...extra,
  });
  const stack = stackOnResetHosts(HOSTS, () => new RealStack(path.join(EXAMPLES, "dns-servers"), "lab", config()));
  realLifecycle({
    stack,
    hosts: HOSTS,
    run: hostExec,
    // Moving the rules from the host's nftables to iptables: each rule is another object.
    changedConfig: () => config({ backend: "iptables" }),
    changeOps: Object.fromEntries(HOSTS.flatMap((h) => RULES.map((r) => [`${h}-dns-${r}`, "replace" as const]))),
    afterChange: async () => {
      for (const h of HOSTS) {
        const saved = await onHost(h, "iptables-save -t raw", hostExec);
        for (const r of RULES) expect(saved).toContain(`pulumi-conntrack:${h}-dns-${r}:`);
        expect(await onHost(h, "nft list ruleset", hostExec)).not.toContain("inet pulumi_conntrack");
      }
    },
    afterCreate: async () => {
      for (const h of HOSTS) {
        const nft = await onHost(h, "nft list ruleset", hostExec);
        for (const r of RULES) expect(nft).toContain(`pulumi-conntrack:${h}-dns-${r}:`);
      }
    },
    drift: async () => {
      await onHost(
        "ctlab10",
        `r=$(iptables -t raw -S | grep 'ctlab10-dns-ipv4-udp-in-dport'); eval "iptables -t raw \${r/-A /-D }"`,
        hostExec,
      );
    },
    drifted: ["ctlab10-dns-ipv4-udp-in-dport"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });
});

describe.skipIf(SKIP)("examples/nat-free-host on the real Pulumi CLI (lab)", { timeout: REAL_TIMEOUT }, () => {
  const HOSTS = ["ctlab10"] as const;
  const FILE = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
  const config = (extra: Record<string, unknown> = {}) => ({
    privateKeyFile: lab!.privateKeyPath,
    knownHostsFile: lab!.knownHostsPath,
    host: { name: "ctlab10", address: lab!.hosts.find((h) => h.name === "ctlab10")!.address },
    ...extra,
  });
  const stack = stackOnResetHosts(HOSTS, () => new RealStack(path.join(EXAMPLES, "nat-free-host"), "lab", config()));
  realLifecycle({
    stack,
    hosts: HOSTS,
    run: hostExec,
    changedConfig: () =>
      config({ modules: ["iptable_nat", "ip6table_nat", "nft_chain_nat", "nf_nat", "nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6"] }),
    changeOps: { "ctlab10-no-conntrack": "update" },
    afterChange: async () => {
      expect(await onHost("ctlab10", `cat ${FILE}`, hostExec)).toContain("install nf_defrag_ipv6 /bin/false\n");
    },
    afterCreate: async () => {
      const f = await onHost("ctlab10", `cat ${FILE}`, hostExec);
      for (const m of ["iptable_nat", "ip6table_nat", "nft_chain_nat", "nf_nat", "nf_conntrack"])
        expect(f).toContain(`install ${m} /bin/false\n`);
    },
    drift: () => onHost("ctlab10", `rm ${FILE}`, hostExec).then(() => undefined),
    drifted: ["ctlab10-no-conntrack"],
    credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
  });
});

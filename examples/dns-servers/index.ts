/**
 * DNS servers that answer a lot of small queries should not spend a conntrack entry on each one:
 * a full table drops packets ("nf_conntrack: table full, dropping packet"). On every host in stack
 * config this program
 *
 * - turns automatic conntrack helper assignment off (where the kernel still has the toggle; Linux
 *   6.0 removed it and never assigns helpers by port), and
 * - exempts port 53 from tracking over TCP and UDP in both directions: queries to this server and
 *   its answers, and the queries it sends upstream as a recursive resolver and their answers
 *   (`role: "both"`: eight rules per address family).
 *
 * With `reportStatus: true` each `pulumi up` also reads every host's conntrack status once the
 * rules are in place (`getConntrackStatus`): the table's count against its max, and the packets
 * the NOTRACK rules have exempted so far. Preview never reads it (a preview touches no host).
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { ConntrackHelperSetting, getConntrackStatus, NotrackServicePort } from "pulumi-conntrack";

interface DnsHost {
  /** Address sshd listens on. */
  address: string;
  /** Name used in resource names; default: the address. Keep it stable. */
  name?: string;
  /** sshd port, default 22. */
  port?: number;
  /** The host's public key (`ssh-ed25519 AAAA...`); default: from `knownHostsFile`. */
  hostKey?: string;
}

const cfg = new pulumi.Config();
const hosts = cfg.requireObject<DnsHost[]>("hosts");
const user = cfg.get("user") ?? "root";
// Read from a file and marked secret here, so the key is encrypted in state like any secret.
const privateKey = pulumi.secret(readFileSync(cfg.require("privateKeyFile"), "utf8"));
const knownHostsFile = cfg.get("knownHostsFile");
const families = cfg.getObject<("ipv4" | "ipv6")[]>("families") ?? ["ipv4"];
const backend = cfg.get("backend") as "auto" | "iptables" | "nftables" | undefined;
const reportStatus = cfg.getBoolean("reportStatus") ?? false;

/** `ssh-ed25519 AAAA...` of each address listed in a known_hosts file. */
function knownHosts(file: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [names, type, key] = line.trim().split(/\s+/);
    if (!names || names.startsWith("#") || type !== "ssh-ed25519" || !key) continue;
    for (const n of names.split(",")) keys.set(n.replace(/^\[(.*)\]:\d+$/, "$1"), `${type} ${key}`);
  }
  return keys;
}
const known = knownHostsFile ? knownHosts(knownHostsFile) : new Map<string, string>();

export const rules: Record<string, pulumi.Output<string[]>> = {};

/** What `reportStatus` shows per host. */
interface DnsHostStatus {
  /** Entries in the conntrack table, its max, and how full it is. */
  table: string;
  /** Packets this program's NOTRACK rules exempted from tracking (summed over its rules). */
  notrackPackets: number | null;
  /** Where the counters came from, and what the host could not tell. */
  source: string;
  missing: string[];
}
export const status: Record<string, pulumi.Output<DnsHostStatus>> = {};

for (const h of hosts) {
  const name = h.name ?? h.address.replace(/[^A-Za-z0-9.-]/g, "-");
  const hostKey = h.hostKey ?? known.get(h.address);
  if (!hostKey)
    throw new Error(`${name}: give hostKey or a knownHostsFile listing ${h.address}: the host's key is checked on every connection`);
  const connection = { host: h.address, port: h.port, user, privateKey, hostKey };

  new ConntrackHelperSetting(`${name}-helpers-off`, { connection, enabled: false });
  const dns = new NotrackServicePort(`${name}-dns`, {
    connection,
    port: 53,
    protocols: ["tcp", "udp"],
    role: "both",
    families,
    ...(backend ? { backend } : {}),
  });
  rules[name] = pulumi.all(dns.rules.map((r) => r.ruleText));

  if (reportStatus && !pulumi.runtime.isDryRun()) {
    // Read once the host's rules are in place, so that the counters are those of this program's rules.
    const tags = pulumi.all(dns.rules.map((r) => r.tag));
    status[name] = pulumi.all([getConntrackStatus({ connection, after: tags }), tags]).apply(([s, ids]) => {
      const ours = s.notrack.filter((c) => ids.includes(c.tag));
      const counted = ours.filter((c) => c.packets !== null);
      return {
        table: `${s.count ?? "?"} / ${s.max ?? "?"} entries (${s.usage === null ? "?" : (s.usage * 100).toFixed(1)}% full)`,
        notrackPackets: counted.length ? counted.reduce((n, c) => n + (c.packets ?? 0), 0) : null,
        source: s.source,
        missing: s.missing,
      };
    });
  }
}

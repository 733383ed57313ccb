/**
 * A conntrack table sized for the host it runs on, the way kube-proxy sizes it: max =
 * max(maxPerCore x CPUs, min) with kube-proxy's defaults (32768 per core, at least 131072), the hash
 * size derived as max / 4, and kube-proxy's TCP timeouts (established 24 h, close-wait 1 h).
 * `onlyRaise` leaves alone a host someone already sized larger. The table's status (count, max,
 * usage, drops, early drops) is read before the change and again after it, so `pulumi up` shows
 * both.
 *
 * On a container or network namespace the table size is the host's and read-only there: set
 * `timeoutsOnly: true` (the lab stack does) to manage only the timeouts, which each network
 * namespace has its own of.
 */
import { readFileSync } from "fs";
import * as pulumi from "@pulumi/pulumi";
import { ConntrackTableSize, getConntrackStatus, type HostStatus } from "pulumi-conntrack";

interface Host {
  address: string;
  name?: string;
  port?: number;
  /** `ssh-ed25519 AAAA...`; default: from `knownHostsFile`. */
  hostKey?: string;
}

const cfg = new pulumi.Config();
const hosts = cfg.requireObject<Host[]>("hosts");
const user = cfg.get("user") ?? "root";
const privateKey = pulumi.secret(readFileSync(cfg.require("privateKeyFile"), "utf8"));
const knownHostsFile = cfg.get("knownHostsFile");
const maxPerCore = cfg.getNumber("maxPerCore") ?? 32768;
const min = cfg.getNumber("min") ?? 131072;
const timeoutsOnly = cfg.getBoolean("timeoutsOnly") ?? false;

/** `ssh-ed25519 AAAA...` of each plain (not hashed) address in a known_hosts file. */
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

/** One line of status, as the `pulumi-conntrack status` command prints its columns. */
function summary(s: HostStatus): string {
  const pct = s.usage === null ? "?" : `${(s.usage * 100).toFixed(1)}%`;
  const st = s.stats;
  return `${s.count ?? "?"}/${s.max ?? "?"} (${pct}), buckets ${s.buckets ?? "?"}, drop ${st.drop ?? "-"}, early_drop ${st.early_drop ?? "-"}, insert_failed ${st.insert_failed ?? "-"} [${s.source}]`;
}

export const before: Record<string, pulumi.Output<string>> = {};
export const after: Record<string, pulumi.Output<string>> = {};
export const sizes: Record<string, pulumi.Output<{ max: number | null; buckets: number | null; memory: number | null }>> = {};

for (const h of hosts) {
  const name = h.name ?? h.address.replace(/[^A-Za-z0-9.-]/g, "-");
  const hostKey = h.hostKey ?? known.get(h.address);
  if (!hostKey)
    throw new Error(`${name}: give hostKey or a knownHostsFile listing ${h.address}: the host's key is checked on every connection`);
  const connection = { host: h.address, port: h.port, user, privateKey, hostKey };

  before[name] = getConntrackStatus({ connection }).apply(summary);
  const table = new ConntrackTableSize(`${name}-table`, {
    connection,
    ...(timeoutsOnly ? {} : { maxPerCore, min, onlyRaise: true }),
    timeouts: { tcpEstablished: 86400, tcpCloseWait: 3600 },
  });
  // Read again once the resource has changed the host.
  after[name] = getConntrackStatus({ connection, after: table.effectiveMax }).apply(summary);
  sizes[name] = pulumi
    .all([table.effectiveMax, table.effectiveBuckets, table.memoryEstimateBytes])
    .apply(([max, buckets, memory]) => ({ max, buckets, memory }));
  table.warnings.apply((ws) => ws.forEach((w) => pulumi.log.warn(`${name}: ${w}`)));
}

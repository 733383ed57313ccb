import { readFileSync } from "node:fs";

/** A lab host as the benchmark uses it. */
export interface BenchHost {
  name: string;
  address: string;
  hostKey: string;
}

/** The running lab's hosts and credentials (the benchmark needs `npm run lab -- up 10`). */
export function labForBench(count: number): { hosts: BenchHost[]; privateKey: string; keyPath: string; knownHosts: string } {
  const dir = process.env.CONNTRACK_LAB_DIR ?? "/run/pulumi-conntrack-lab";
  let inv: { privateKeyPath: string; knownHostsPath: string; hosts: BenchHost[] };
  try {
    inv = JSON.parse(readFileSync(`${dir}/inventory.json`, "utf8"));
  } catch {
    throw new Error("the benchmark needs the lab: run `npm run lab -- up 10` first (as root)");
  }
  if (inv.hosts.length < count) throw new Error(`the lab has ${inv.hosts.length} hosts, the benchmark wants ${count}`);
  return {
    hosts: inv.hosts.slice(0, count),
    privateKey: readFileSync(inv.privateKeyPath, "utf8"),
    keyPath: inv.privateKeyPath,
    knownHosts: inv.knownHostsPath,
  };
}

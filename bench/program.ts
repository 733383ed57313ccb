import type { BenchHost } from "./hosts";
import { DNS_RULES } from "./dns-rules";

/** One resource of the benchmark's program, as the engine would register it. */
export interface BenchResource {
  urn: string;
  type: string;
  name: string;
  /** Program inputs, without `__provider` (added by the driver). */
  inputs: Record<string, unknown>;
}

/** Short type name (`NotrackRule`) to the dynamic type token the engine sees. */
export const typeToken = (short: string) => `pulumi-nodejs:dynamic/conntrack:${short}`;

/**
 * The program shape, per host: the helper setting off, the seed's eight DNS NOTRACK rules,
 * one ModuleBlacklist (FTP helper modules: it does not conflict with NOTRACK, and `initramfs:
 * never` keeps the machine's initramfs out of it). `extraRules` adds more NOTRACK rules per host
 * (UDP ports from 20000) to make large programs on few hosts, for the memory run.
 */
export function fleetProgram(hosts: readonly BenchHost[], privateKey: string, extraRules = 0): BenchResource[] {
  const out: BenchResource[] = [];
  const add = (type: string, name: string, inputs: Record<string, unknown>) =>
    out.push({ urn: `urn:pulumi:bench::bench::${typeToken(type)}::${name}`, type: typeToken(type), name, inputs });
  for (const h of hosts) {
    const connection = { host: h.address, user: "root", privateKey, hostKey: h.hostKey };
    add("ConntrackHelperSetting", `${h.name}-helper`, { connection, enabled: false });
    for (const r of DNS_RULES) {
      add("NotrackRule", `${h.name}-${r.name}`, {
        connection,
        ruleName: `bench-${r.name}`,
        chain: r.chain,
        protocol: r.protocol,
        ...(r.sourcePort ? { sourcePort: r.sourcePort } : {}),
        ...(r.destinationPort ? { destinationPort: r.destinationPort } : {}),
        family: "ipv4",
        backend: "auto",
        persist: true,
      });
    }
    for (let i = 0; i < extraRules; i++) {
      add("NotrackRule", `${h.name}-extra-${i}`, {
        connection,
        ruleName: `bench-x${i}`,
        chain: "PREROUTING",
        protocol: "udp",
        destinationPort: 20000 + i,
        family: "ipv4",
        backend: "auto",
        persist: true,
      });
    }
    add("ModuleBlacklist", `${h.name}-keep-out`, {
      connection,
      modules: ["nf_conntrack_ftp", "nf_nat_ftp"],
      mode: "disable",
      initramfs: "never",
    });
  }
  return out;
}

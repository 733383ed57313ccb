import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";

/** One host of the fleet, as listed in stack config `hosts`. */
export interface FleetHost {
  /** Name used in resource names (`<name>-helper`, ...): keep it stable. */
  name: string;
  /** Address or DNS name sshd listens on. */
  address: string;
  /** Key of `profiles` this host follows. */
  profile: string;
  /** sshd port (default 22). */
  port?: number;
  /** The host's public key (`ssh-ed25519 AAAA...`); default: looked up in `knownHostsFile`. */
  hostKey?: string;
}

/** NOTRACK for one service port (see `NotrackServicePort`). */
export interface NotrackPort {
  port: number | string;
  protocols?: ("tcp" | "udp" | "sctp")[];
  /** `server` (default), `client` or `both` (a recursive DNS server). */
  role?: "server" | "client" | "both";
  families?: ("ipv4" | "ipv6")[];
  backend?: "auto" | "iptables" | "nftables";
  persist?: boolean;
}

/** Modules kept out of a host (see `ModuleBlacklist`). */
export interface KeepOut {
  modules: string[];
  mode?: "disable" | "blacklist";
  unload?: boolean;
  initramfs?: "auto" | "always" | "never";
}

/** What a profile asks of every host that follows it. Absent parts are left alone. */
export interface Profile {
  /** Automatic conntrack helper assignment on or off. */
  helperAssignment?: boolean;
  notrack?: NotrackPort[];
  keepOut?: KeepOut;
}

/** The fleet as the stack config describes it. */
export interface Fleet {
  hosts: FleetHost[];
  profiles: Record<string, Profile>;
  /** `connectionFor(host)`: the same credentials for every host, its own address and host key. */
  connectionFor(h: FleetHost): FleetConnection;
}

/** A host's connection: `@pulumi/command`'s `remote.ConnectionArgs` shape, credentials secret. */
export interface FleetConnection {
  host: string;
  port?: number;
  user: string;
  privateKey?: pulumi.Output<string>;
  password?: pulumi.Output<string>;
  hostKey?: string;
  sudo?: boolean;
}

/**
 * Reads the stack config. Credentials are read from files named in config (never from the config
 * itself) or from secret config, and are handed to the resources as secrets, so that they are
 * encrypted in state like every secret.
 */
export function loadFleet(): Fleet {
  const cfg = new pulumi.Config();
  const hosts = cfg.requireObject<FleetHost[]>("hosts");
  const profiles = cfg.requireObject<Record<string, Profile>>("profiles");
  const user = cfg.get("user") ?? "root";
  const sudo = cfg.getBoolean("sudo");
  const keyFile = cfg.get("privateKeyFile");
  const privateKey = keyFile ? pulumi.secret(readFileSync(keyFile, "utf8")) : undefined;
  const password = cfg.getSecret("password");
  const knownHostsFile = cfg.get("knownHostsFile");
  const known = knownHostsFile ? parseKnownHosts(readFileSync(knownHostsFile, "utf8")) : new Map<string, string>();

  const names = new Set<string>();
  for (const h of hosts) {
    if (names.has(h.name)) throw new Error(`config hosts: ${h.name} is listed twice`);
    names.add(h.name);
    if (!profiles[h.profile])
      throw new Error(`config hosts: ${h.name} follows profile "${h.profile}", which config profiles does not define`);
  }

  return {
    hosts,
    profiles,
    connectionFor(h) {
      const hostKey = h.hostKey ?? known.get(h.address);
      if (knownHostsFile && !hostKey) throw new Error(`${h.name}: no ed25519 key for ${h.address} in ${knownHostsFile}`);
      return {
        host: h.address,
        ...(h.port ? { port: h.port } : {}),
        user,
        ...(privateKey ? { privateKey } : {}),
        ...(password ? { password } : {}),
        ...(hostKey ? { hostKey } : {}),
        ...(sudo !== undefined ? { sudo } : {}),
      };
    },
  };
}

/** Address -> `ssh-ed25519 AAAA...` from a known_hosts file (plain host names, not hashed ones). */
export function parseKnownHosts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [names, type, key] = line.trim().split(/\s+/);
    if (!names || names.startsWith("#") || type !== "ssh-ed25519" || !key) continue;
    for (const n of names.split(",")) out.set(n.replace(/^\[(.*)\]:\d+$/, "$1"), `${type} ${key}`);
  }
  return out;
}

/**
 * A host that must never track connections (a plain router, a host whose filter rules are all
 * stateless): keep the conntrack and NAT modules out of its kernel. A `blacklist` line alone is not
 * enough: it only ignores aliases, and `iptables -t nat -L` makes the kernel request `iptable_nat`,
 * which pulls in `nf_nat` and `nf_conntrack`. Mode `disable` also writes `install <m> /bin/false`,
 * which stops every load, by name, as a dependency, or on the kernel's request.
 *
 * Modules already loaded stay loaded until reboot unless `unload` is true (then they are removed
 * now, in dependency order, and the update fails, naming the holders, while one is in use). A
 * module built into the kernel cannot be kept out this way: the outputs say NOT EFFECTIVE.
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { ModuleBlacklist } from "pulumi-conntrack";

interface Host {
  address: string;
  name?: string;
  port?: number;
  hostKey?: string;
}

/** NAT front ends and the modules every one of them pulls in. */
const DEFAULT_MODULES = ["iptable_nat", "ip6table_nat", "nft_chain_nat", "nf_nat", "nf_conntrack"];

const cfg = new pulumi.Config();
const host = cfg.requireObject<Host>("host");
const user = cfg.get("user") ?? "root";
const privateKey = pulumi.secret(readFileSync(cfg.require("privateKeyFile"), "utf8"));
const knownHostsFile = cfg.get("knownHostsFile");

function hostKeyOf(h: Host): string {
  if (h.hostKey) return h.hostKey;
  if (knownHostsFile) {
    for (const line of readFileSync(knownHostsFile, "utf8").split("\n")) {
      const [names, type, key] = line.trim().split(/\s+/);
      if (names && type === "ssh-ed25519" && key && names.split(",").includes(h.address)) return `${type} ${key}`;
    }
  }
  throw new Error(`give host.hostKey or a knownHostsFile listing ${h.address}: the host's key is checked on every connection`);
}

const name = host.name ?? host.address.replace(/[^A-Za-z0-9.-]/g, "-");
const keepOut = new ModuleBlacklist(`${name}-no-conntrack`, {
  connection: { host: host.address, port: host.port, user, privateKey, hostKey: hostKeyOf(host) },
  modules: cfg.getObject<string[]>("modules") ?? DEFAULT_MODULES,
  mode: "disable",
  unload: cfg.getBoolean("unload") ?? false,
});

export const file = keepOut.path;
export const effective = keepOut.effective;
export const notes = keepOut.notes;

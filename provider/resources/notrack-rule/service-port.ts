import * as pulumi from "@pulumi/pulumi";
import { secretConnection, type ConnectionArgs } from "../../common/resource-options";
import { NotrackRule, type NotrackRuleArgs } from "./resource";
import type { BackendChoice, Chain } from "./syntax/rule";

/** Which side of a service the host is. */
export type ServiceRole = "server" | "client" | "both";

/** One rule of an expanded service port. */
export interface ServicePortRule {
  /** Suffix of the rule's resource name: `ipv4-udp-in-dport`. */
  suffix: string;
  family: "ipv4" | "ipv6";
  protocol: "tcp" | "udp" | "sctp";
  chain: Chain;
  sourcePort?: number | string;
  destinationPort?: number | string;
}

/** What to expand: a port, its protocols, the host's role, and the families. */
export interface ServicePortSpec {
  port: number | string;
  /** Default `["tcp", "udp"]`. */
  protocols?: ReadonlyArray<"tcp" | "udp" | "sctp">;
  /** Default `"server"`. */
  role?: ServiceRole;
  /** Default `["ipv4"]`. */
  families?: ReadonlyArray<"ipv4" | "ipv6">;
}

/**
 * The NOTRACK rules that exempt a service port in both directions. A server receives requests to
 * the port (PREROUTING, destination port) and answers from it (OUTPUT, source port); a client sends
 * to the port (OUTPUT, destination port) and gets answers from it (PREROUTING, source port). `both`
 * (a recursive DNS server) is the seed's eight rules per family for TCP and UDP.
 */
export function expandServicePort(s: ServicePortSpec): ServicePortRule[] {
  const protocols = s.protocols ?? ["tcp", "udp"];
  const role = s.role ?? "server";
  const families = s.families ?? ["ipv4"];
  const out: ServicePortRule[] = [];
  for (const family of new Set(families)) {
    for (const protocol of new Set(protocols)) {
      const base = `${family}-${protocol}`;
      if (role !== "client") {
        out.push({ suffix: `${base}-in-dport`, family, protocol, chain: "PREROUTING", destinationPort: s.port });
        out.push({ suffix: `${base}-out-sport`, family, protocol, chain: "OUTPUT", sourcePort: s.port });
      }
      if (role !== "server") {
        out.push({ suffix: `${base}-out-dport`, family, protocol, chain: "OUTPUT", destinationPort: s.port });
        out.push({ suffix: `${base}-in-sport`, family, protocol, chain: "PREROUTING", sourcePort: s.port });
      }
    }
  }
  return out;
}

/** Arguments of {@link NotrackServicePort}. */
export interface NotrackServicePortArgs {
  /** How to reach the host (shared by every rule). */
  connection: pulumi.Input<ConnectionArgs>;
  /** The service port or range (`53`). */
  port: number | string;
  /** Default `["tcp", "udp"]`. */
  protocols?: ReadonlyArray<"tcp" | "udp" | "sctp">;
  /** `server` (default), `client` or `both`. */
  role?: ServiceRole;
  /** Default `["ipv4"]`. */
  families?: ReadonlyArray<"ipv4" | "ipv6">;
  /** Backend of every rule (default `auto`). */
  backend?: pulumi.Input<BackendChoice>;
  /** Persist every rule (default `true`). */
  persist?: pulumi.Input<boolean>;
  /** See {@link NotrackRuleArgs.allowManagementTraffic}. */
  allowManagementTraffic?: pulumi.Input<boolean>;
}

/**
 * A service port exempted from connection tracking on one host, as a few lines of a program:
 *
 * ```ts
 * new NotrackServicePort("dns", { connection, port: 53, role: "both", families: ["ipv4", "ipv6"] });
 * ```
 *
 * creates the seed's eight rules per family (TCP and UDP, port 53, both directions, PREROUTING and
 * OUTPUT) as child {@link NotrackRule}s named `<name>-<family>-<protocol>-<in|out>-<sport|dport>`.
 */
export class NotrackServicePort extends pulumi.ComponentResource {
  /** The rules, in the order of {@link expandServicePort}. */
  readonly rules: NotrackRule[];

  constructor(name: string, args: NotrackServicePortArgs, opts?: pulumi.ComponentResourceOptions) {
    super("conntrack:index:NotrackServicePort", name, {}, opts);
    // One secret for every rule: the connection is never handed to a child in clear.
    const connection = secretConnection(args.connection);
    this.rules = expandServicePort(args).map(
      (r) =>
        new NotrackRule(
          `${name}-${r.suffix}`,
          {
            connection,
            chain: r.chain,
            protocol: r.protocol,
            family: r.family,
            ...(r.sourcePort !== undefined ? { sourcePort: r.sourcePort } : {}),
            ...(r.destinationPort !== undefined ? { destinationPort: r.destinationPort } : {}),
            ...(args.backend !== undefined ? { backend: args.backend } : {}),
            ...(args.persist !== undefined ? { persist: args.persist } : {}),
            ...(args.allowManagementTraffic !== undefined ? { allowManagementTraffic: args.allowManagementTraffic } : {}),
          },
          { parent: this },
        ),
    );
    this.registerOutputs({ rules: this.rules.map((r) => r.tag) });
  }
}

/** Function form of {@link NotrackServicePort}: returns the rules. */
export function notrackServicePort(name: string, args: NotrackServicePortArgs, opts?: pulumi.ComponentResourceOptions): NotrackRule[] {
  return new NotrackServicePort(name, args, opts).rules;
}

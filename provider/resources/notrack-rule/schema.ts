import { z } from "zod";
import { containsUnknown } from "../../common/unknown";
import { ConnectionSchema } from "../../connection/schema";
import { parseCidr, formatCidr } from "./syntax/address";
import { parsePort, type PortSpec } from "./syntax/ports";
import { BACKENDS, CHAINS, PORT_PROTOCOLS, PROTOCOLS, type Protocol } from "./syntax/rule";

/** Type name of the resource (the dynamic-provider type token ends with it). */
export const NOTRACK_RULE_TYPE = "NotrackRule";

/** Characters of a rule name; it becomes part of the rule's comment on the host. */
export const RULE_NAME = /^[A-Za-z0-9._-]{1,80}$/;

/** A port or range input (`53`, `"1024:65535"`), as iptables and nft print it. Shared with ConntrackHelperRule. */
export const port = z.union([z.number(), z.string()]).transform((v, ctx): PortSpec => {
  const p = parsePort(v);
  if (!p.ok) {
    ctx.addIssue({ code: "custom", message: p.reason });
    return z.NEVER;
  }
  return p.value;
});

/** An address or CIDR block input, canonical. Shared with ConntrackHelperRule. */
export const cidr = z
  .string()
  .max(64, "must be an IP address or CIDR block")
  // Host names are refused: iptables would resolve them once, at insert time, and nft refuses them.
  .regex(/^[0-9A-Fa-f.:]+(\/[0-9.]{1,15})?$/, "must be an IP address or CIDR block (e.g. 192.0.2.0/24 or 2001:db8::/32), not a host name")
  .transform((v, ctx) => {
    const c = parseCidr(v);
    if (!c) {
      ctx.addIssue({ code: "custom", message: "must be an IP address or CIDR block (e.g. 192.0.2.0/24 or 2001:db8::/32)" });
      return z.NEVER;
    }
    // `/0` matches everything: it is the same rule as no address at all.
    return formatCidr(c);
  });

// As the kernel and iptables take it: IFNAMSIZ is 16 bytes with the final NUL, so at most 15
// characters, the `+` of a prefix match included; "." and ".." are not names.
/** An interface name input (`eth0`, `eth+`). Shared with ConntrackHelperRule. */
export const iface = z.string().superRefine((v, ctx) => {
  const reason = !/^[A-Za-z0-9_.-]+\+?$/.test(v)
    ? "must be an interface name of letters, digits, '_', '.', '-', optionally ending in '+' (prefix match)"
    : v.length > 15
      ? `must be at most 15 characters, a trailing '+' included (the kernel's IFNAMSIZ is 16 bytes with the final NUL; this one has ${v.length})`
      : v === "." || v === ".."
        ? 'must not be "." or ".."'
        : undefined;
  if (reason) ctx.addIssue({ code: "custom", message: reason });
});

/**
 * Inputs of a `NotrackRule`: one rule that exempts matching packets from connection tracking, on
 * one host, in the raw table (iptables) or this package's own table at raw priority (nftables).
 * Unknown properties are refused, and so is every combination iptables would refuse.
 */
/**
 * The fields every raw-table rule kind takes besides its action (NotrackRule, ConntrackHelperRule):
 * the match beyond chain and protocol, where the rule goes, and whether it is saved.
 */
export const RULE_MATCH_FIELDS = {
  /** Source port or range (`53`, `"1024:65535"`); tcp, udp and sctp only. */
  sourcePort: port.optional(),
  /** Destination port or range; tcp, udp and sctp only. */
  destinationPort: port.optional(),
  /** Source address or CIDR block of the rule's family. */
  source: cidr.optional(),
  /** Destination address or CIDR block of the rule's family. */
  destination: cidr.optional(),
  /** Interface packets arrive on (`PREROUTING` only); a trailing `+` matches a prefix. */
  inInterface: iface.optional(),
  /** Interface packets leave through (`OUTPUT` only); a trailing `+` matches a prefix. */
  outInterface: iface.optional(),
  /** `ipv4` (iptables) or `ipv6` (ip6tables). */
  family: z.enum(["ipv4", "ipv6"], { message: 'must be "ipv4" or "ipv6"' }).default("ipv4"),
  /** `auto` (what the host runs, recorded in the outputs), `iptables` or `nftables`. */
  backend: z.enum(BACKENDS, { message: 'must be "auto", "iptables" or "nftables"' }).default("auto"),
  /** Also add the rule to the host's saved ruleset so it survives a reboot. */
  persist: z.boolean().default(true),
};

export const NotrackRuleSchema = z
  .object({
    /** How to reach the host (`@pulumi/command`'s `remote.ConnectionArgs`, plus `sudo`). */
    connection: ConnectionSchema,
    /**
     * Stable name of the rule, part of the comment that identifies it on the host. The
     * `NotrackRule` class sets it to the Pulumi resource name.
     */
    ruleName: z.string().regex(RULE_NAME, "must be 1-80 letters, digits, '.', '_' or '-'"),
    /**
     * Who the rule belongs to (`project/stack/parent URN/name`), set by the `NotrackRule` class:
     * the tag is derived from it, so that a create cut off mid-way and run again recognises the rule
     * its earlier attempt left, and two stacks on one host never share one. Fixed once the resource
     * exists (a rename with an alias keeps it). Without it (state written by 0.1 releases, the kind
     * used directly) the tag is random.
     */
    owner: z.string().min(1).max(2048).optional(),
    /** `PREROUTING` (arriving packets) or `OUTPUT` (packets this host sends). */
    chain: z.enum(CHAINS, { message: 'must be "PREROUTING" or "OUTPUT"' }),
    /** Protocol matched: tcp, udp, sctp, icmp (ipv4), icmpv6 (ipv6) or all. */
    protocol: z.enum(PROTOCOLS, { message: 'must be one of "tcp", "udp", "sctp", "icmp", "icmpv6", "all"' }),
    ...RULE_MATCH_FIELDS,
    /**
     * Allow a rule that could match the SSH session this provider manages the host through.
     * Untracked packets are in state UNTRACKED, so a filter table that accepts only
     * ESTABLISHED,RELATED would drop them and cut the session off: set this only when the host's
     * filter rules accept untracked SSH traffic.
     */
    allowManagementTraffic: z.boolean().default(false),
    /**
     * Set by `read` only (never in a program): differences between the host and the state that
     * no other input can express (an extra match added by hand, a duplicate, a missing saved
     * copy), so that the next `up` sees a change and repairs them.
     */
    observedDrift: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    for (const f of crossFieldFailures(v)) ctx.addIssue({ code: "custom", path: [f.property], message: f.reason });
  });

/**
 * The combinations iptables would refuse. Each is checked only when every value it reads is known,
 * so the same function serves validated inputs and a preview's inputs with unknown values in them.
 */
export function crossFieldFailures(v: {
  protocol?: unknown;
  family?: unknown;
  chain?: unknown;
  sourcePort?: unknown;
  destinationPort?: unknown;
  source?: unknown;
  destination?: unknown;
  inInterface?: unknown;
  outInterface?: unknown;
}): Array<{ property: string; reason: string }> {
  const out: Array<{ property: string; reason: string }> = [];
  const fail = (property: string, reason: string) => out.push({ property, reason });
  const known = (...xs: unknown[]) => xs.every((x) => !containsUnknown(x));
  const hasPorts = v.sourcePort !== undefined || v.destinationPort !== undefined;
  if (hasPorts && known(v.protocol, v.sourcePort, v.destinationPort) && !PORT_PROTOCOLS.includes(v.protocol as Protocol)) {
    const which = v.destinationPort !== undefined ? "destinationPort" : "sourcePort";
    fail(which, `ports need protocol tcp, udp or sctp (protocol is ${String(v.protocol)})`);
  }
  if (known(v.protocol, v.family)) {
    if (v.protocol === "icmp" && v.family === "ipv6") fail("protocol", 'icmp is IPv4; use "icmpv6" in a rule of family ipv6');
    if (v.protocol === "icmpv6" && v.family === "ipv4")
      fail("protocol", 'icmpv6 is IPv6; use "icmp" in a rule of family ipv4, or set family: "ipv6"');
  }
  if (known(v.chain, v.inInterface) && v.inInterface !== undefined && v.chain !== "PREROUTING")
    fail("inInterface", `the input interface is known only in PREROUTING (chain is ${String(v.chain)}); use outInterface`);
  if (known(v.chain, v.outInterface) && v.outInterface !== undefined && v.chain !== "OUTPUT")
    fail("outInterface", `the output interface is known only in OUTPUT (chain is ${String(v.chain)}); use inInterface`);
  for (const key of ["source", "destination"] as const) {
    const a = v[key];
    if (typeof a !== "string" || !known(a, v.family)) continue;
    const c = parseCidr(a);
    if (c && c.family !== v.family)
      fail(key, `${a} is an ${c.family === "ipv4" ? "IPv4" : "IPv6"} address but the rule's family is ${String(v.family)}`);
  }
  return out;
}

/** Validated inputs with defaults applied. */
export type NotrackRuleInputs = z.output<typeof NotrackRuleSchema>;
/** What a program may pass. */
export type NotrackRuleInput = z.input<typeof NotrackRuleSchema>;

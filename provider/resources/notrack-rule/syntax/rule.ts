/**
 * A raw-table rule as data: what it matches and what it does (NOTRACK, or attach a conntrack
 * helper), the fields compared between the program and the host. Rendered by `iptables-rule.ts`
 * and `nft-rule.ts`, read back by the same files.
 */
import { deepEqual } from "../../../common/equal";
import type { Family } from "./address";
import type { HelperName } from "./helpers";
import type { PortSpec } from "./ports";

/** Which ruleset a rule goes into: what the host runs (`auto`), iptables, or native nftables. */
export const BACKENDS = ["auto", "iptables", "nftables"] as const;
/** The `backend` input. */
export type BackendChoice = (typeof BACKENDS)[number];

/** Where a rule really lives: the iptables variant the host uses, or native nftables. */
export type ResolvedBackend = "iptables-nft" | "iptables-legacy" | "nftables";

/** Chains of the raw table a NOTRACK rule can live in. */
export const CHAINS = ["PREROUTING", "OUTPUT"] as const;
/** A raw-table chain: `PREROUTING` (packets arriving) or `OUTPUT` (locally generated packets). */
export type Chain = (typeof CHAINS)[number];

/** Protocols a rule can match; `all` matches every protocol. */
export const PROTOCOLS = ["tcp", "udp", "sctp", "icmp", "icmpv6", "all"] as const;
/** A protocol match. */
export type Protocol = (typeof PROTOCOLS)[number];

/** Protocols with ports. */
export const PORT_PROTOCOLS: readonly Protocol[] = ["tcp", "udp", "sctp"];

/** What a rule matches: the fields compared between the program and the host. */
export interface RuleSpec {
  family: Family;
  chain: Chain;
  protocol: Protocol;
  source?: string;
  destination?: string;
  sourcePort?: PortSpec;
  destinationPort?: PortSpec;
  inInterface?: string;
  outInterface?: string;
  /**
   * What the rule does: absent, NOTRACK (a `NotrackRule`); a helper, attach it to the connections
   * matched (`-j CT --helper`, nft `ct helper set`; a `ConntrackHelperRule`).
   */
  helper?: HelperName;
}

/** Input keys that make up a {@link RuleSpec}. */
export const SPEC_KEYS = [
  "family",
  "chain",
  "protocol",
  "source",
  "destination",
  "sourcePort",
  "destinationPort",
  "inInterface",
  "outInterface",
  "helper",
] as const;

/** The match alone, of validated inputs or of a rule read back (no other field, none undefined). */
export function specOf(inputs: RuleSpec): RuleSpec {
  const out: Record<string, unknown> = {};
  for (const k of SPEC_KEYS) if (inputs[k] !== undefined) out[k] = inputs[k];
  return out as unknown as RuleSpec;
}

/** Whether two matches are the same rule. */
export function sameSpec(a: RuleSpec, b: RuleSpec): boolean {
  return deepEqual(specOf(a), specOf(b));
}

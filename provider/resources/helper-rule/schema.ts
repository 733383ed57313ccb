import { z } from "zod";
import { containsUnknown } from "../../common/unknown";
import { ConnectionSchema } from "../../connection/schema";
import { crossFieldFailures, RULE_MATCH_FIELDS, RULE_NAME } from "../notrack-rule/schema";
import { CHAINS } from "../notrack-rule/syntax/rule";
import { HELPERS, helperProtocols, isHelperName } from "../notrack-rule/syntax/helpers";

/** Type name of the resource (the dynamic-provider type token ends with it). */
export const HELPER_RULE_TYPE = "ConntrackHelperRule";

export { HELPERS, type HelperName } from "../notrack-rule/syntax/helpers";

/** Protocols a helper rule can match: the helpers track TCP or UDP. */
export const HELPER_RULE_PROTOCOLS = ["tcp", "udp"] as const;

/**
 * Inputs of a `ConntrackHelperRule`: one rule that attaches a conntrack helper to the connections it
 * matches, on one host: iptables `-t raw ... -j CT --helper <name>`, or in this package's nftables
 * table a `ct helper` object and `ct helper set` after conntrack's lookup. The match inputs are
 * NotrackRule's. Unknown properties are refused, and so is every combination the kernel would refuse.
 */
export const ConntrackHelperRuleSchema = z
  .object({
    /** How to reach the host (`@pulumi/command`'s `remote.ConnectionArgs`, plus `sudo`). */
    connection: ConnectionSchema,
    /** Stable name of the rule, part of the comment that identifies it on the host (the resource name by default). */
    ruleName: z.string().regex(RULE_NAME, "must be 1-80 letters, digits, '.', '_' or '-'"),
    /** Who the rule belongs to (`project/stack/parent URN/name`): the tag is derived from it (see NotrackRule's `owner`). */
    owner: z.string().min(1).max(2048).optional(),
    /** The helper to attach: `ftp`, `tftp`, `sip`, `irc`, `h323`, `pptp`, `snmp`, `netbios-ns` or `amanda`. */
    helper: z.enum(HELPERS, { message: `must be one of ${HELPERS.map((h) => `"${h}"`).join(", ")}` }),
    /** `PREROUTING` (connections arriving; the default) or `OUTPUT` (connections this host opens). */
    chain: z.enum(CHAINS, { message: 'must be "PREROUTING" or "OUTPUT"' }).default("PREROUTING"),
    /** `tcp` or `udp`: one the helper tracks (ftp: tcp; tftp: udp; sip and h323: either). */
    protocol: z.enum(HELPER_RULE_PROTOCOLS, { message: 'must be "tcp" or "udp"' }),
    ...RULE_MATCH_FIELDS,
    /** Set by `read` only (never in a program): differences the inputs cannot express, repaired by the next `up`. */
    observedDrift: z.array(z.string()).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    for (const f of [...crossFieldFailures(v), ...helperFailures(v)])
      ctx.addIssue({ code: "custom", path: [f.property], message: f.reason });
  });

/**
 * The helper and protocol must agree: the kernel registers each helper for its protocols only, and
 * `-j CT --helper` or an nft `ct helper` object of another protocol is refused ("No such file or
 * directory"). Checked only when both values are known.
 */
export function helperFailures(v: { helper?: unknown; protocol?: unknown }): Array<{ property: string; reason: string }> {
  if (containsUnknown(v.helper) || containsUnknown(v.protocol) || !isHelperName(v.helper) || typeof v.protocol !== "string") return [];
  const ok = helperProtocols(v.helper);
  if ((ok as string[]).includes(v.protocol)) return [];
  return [{ property: "protocol", reason: `the ${v.helper} helper tracks ${ok.join(" and ")} only (protocol is ${v.protocol})` }];
}

/** Validated inputs with defaults applied. */
export type ConntrackHelperRuleInputs = z.output<typeof ConntrackHelperRuleSchema>;
/** What a program may pass. */
export type ConntrackHelperRuleInput = z.input<typeof ConntrackHelperRuleSchema>;

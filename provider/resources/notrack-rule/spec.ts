import { RULE_TAG_PREFIX } from "../../common/markers";
import { deepEqual } from "../../common/equal";
import type { Family } from "./address";
import type { PortSpec } from "./ports";
import type { Chain, NotrackRuleInputs, Protocol } from "./schema";

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
}

/** Input keys that make up a {@link RuleSpec}. */
export const SPEC_KEYS = ["family", "chain", "protocol", "source", "destination", "sourcePort", "destinationPort", "inInterface", "outInterface"] as const;

/** The match of validated inputs. */
export function specOf(inputs: Pick<NotrackRuleInputs, (typeof SPEC_KEYS)[number]>): RuleSpec {
  const out: Record<string, unknown> = {};
  for (const k of SPEC_KEYS) if (inputs[k] !== undefined) out[k] = inputs[k];
  return out as unknown as RuleSpec;
}

/** Whether two matches are the same rule. */
export function sameSpec(a: RuleSpec, b: RuleSpec): boolean {
  return deepEqual(specOf(a), specOf(b));
}

/** Characters of a tag: safe unquoted in iptables-restore input, nft and shell alike. */
export const TAG_PATTERN = /^[A-Za-z0-9._:-]{1,120}$/;

/** The comment that identifies one resource's rule: prefix, rule name, random suffix. */
export function makeTag(ruleName: string, suffix: string): string {
  const tag = `${RULE_TAG_PREFIX}${ruleName}:${suffix}`;
  if (!TAG_PATTERN.test(tag)) throw new TypeError(`bad rule tag ${JSON.stringify(tag)}`);
  return tag;
}

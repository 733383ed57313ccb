import * as pulumi from "@pulumi/pulumi";
import { secretConnection, withSecretConnection, type ConnectionArgs } from "../../common/resource-options";
import type { Assert, DeclaresOutputs } from "../../common/output-names";
import { outputSlots } from "../../common/output-names";
import { thinProvider, TYPE_MODULE } from "../../common/thin-provider";
import { NOTRACK_RULE_OUTPUT_NAMES, type NotrackRuleOutputs } from "./outputs";
import type { Persistence } from "./host/backend";
import type { ResolvedBackend } from "./syntax/rule";
import type { PortSpec } from "./syntax/ports";
import { NOTRACK_RULE_TYPE, RULE_NAME } from "./schema";
import type { BackendChoice, Chain, Protocol } from "./syntax/rule";

/** Arguments of {@link NotrackRule}. */
export interface NotrackRuleArgs {
  /** How to reach the host. Stored as a secret. */
  connection: pulumi.Input<ConnectionArgs>;
  /** `PREROUTING` (arriving packets) or `OUTPUT` (packets the host sends). */
  chain: pulumi.Input<Chain>;
  /** `tcp`, `udp`, `sctp`, `icmp` (ipv4), `icmpv6` (ipv6) or `all`. */
  protocol: pulumi.Input<Protocol>;
  /** Source port or range (`53`, `"1024:65535"`); tcp, udp and sctp only. */
  sourcePort?: pulumi.Input<number | string>;
  /** Destination port or range; tcp, udp and sctp only. */
  destinationPort?: pulumi.Input<number | string>;
  /** Source address or CIDR block of the rule's family. */
  source?: pulumi.Input<string>;
  /** Destination address or CIDR block of the rule's family. */
  destination?: pulumi.Input<string>;
  /** Interface packets arrive on (`PREROUTING` only); `eth+` matches a prefix. */
  inInterface?: pulumi.Input<string>;
  /** Interface packets leave through (`OUTPUT` only). */
  outInterface?: pulumi.Input<string>;
  /** `ipv4` (default) or `ipv6`. Changing it replaces the rule. */
  family?: pulumi.Input<"ipv4" | "ipv6">;
  /**
   * `auto` (default: what the host runs, recorded in `resolvedBackend`), `iptables` (the host's
   * variant, legacy or nf_tables) or `nftables` (this package's own `inet` table). Changing it
   * replaces the rule.
   */
  backend?: pulumi.Input<BackendChoice>;
  /** Keep the rule across reboots in the host's saved ruleset (default `true`). */
  persist?: pulumi.Input<boolean>;
  /**
   * Allow a rule that could match the SSH session the provider manages the host through (refused
   * by default: untracked packets are dropped by filter rules that accept only
   * ESTABLISHED,RELATED, which would lock the provider out).
   */
  allowManagementTraffic?: pulumi.Input<boolean>;
  /**
   * Name in the rule's identifying comment (`pulumi-conntrack:<ruleName>:<hash of project, stack,
   * parent and resource name>.<nonce>`; a create run again after an interruption takes over what
   * its earlier attempt left). Default: the
   * resource name with characters other than letters, digits, `.`, `_`, `-` replaced by `-`.
   * Changing it replaces the rule.
   */
  ruleName?: pulumi.Input<string>;
}

/** The resource name as a rule name: allowed characters only, at most 80 of them. */
export function ruleNameFor(resourceName: string): string {
  const s = resourceName.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 80);
  return RULE_NAME.test(s) ? s : "rule";
}

/**
 * Who a resource is, as its `owner` input: project, stack, parent URN and name. The rule's tag is
 * derived from it, so a create that is run again after being cut off recognises what its earlier
 * attempt left on the host, and two stacks (or two parents with a child of one name) never do.
 */
export function ownerOf(name: string, opts?: pulumi.CustomResourceOptions): string {
  return [pulumi.getProject(), pulumi.getStack(), parentPath(opts?.parent), name].join("/");
}

/**
 * The parent chain as `type::name` pairs. Read from the parents themselves rather than from their
 * `urn` output: an input that depends on a component depends on all its children, this one too.
 */
function parentPath(parent: pulumi.Resource | undefined): string {
  const out: string[] = [];
  let r = parent as unknown as { __pulumiType?: string; __name?: string; __parentResource?: unknown } | undefined;
  for (let i = 0; r && i < 32; i++) {
    if (r.__pulumiType === "pulumi:pulumi:Stack") break;
    out.unshift(`${r.__pulumiType ?? "?"}::${r.__name ?? "?"}`);
    r = r.__parentResource as typeof r;
  }
  return out.join("$");
}

/**
 * One NOTRACK rule on one host: packets it matches bypass connection tracking (the busy DNS
 * server case: port 53 in PREROUTING and OUTPUT). The rule lives in the raw table of the iptables
 * variant the host uses, or in this package's nftables table at raw priority, carries a comment
 * tag that identifies it, and is saved in the host's boot ruleset (`netfilter-persistent`,
 * `iptables-services` or `/etc/nftables.conf`) without saving anyone else's rules. Rules of other
 * tools are never touched.
 */
export class NotrackRule extends pulumi.dynamic.Resource {
  /** The identifying comment (also the resource id). */
  declare readonly tag: pulumi.Output<string>;
  /** `iptables-nft`, `iptables-legacy` or `nftables`. */
  declare readonly resolvedBackend: pulumi.Output<ResolvedBackend>;
  /** The rule as written on the host. */
  declare readonly ruleText: pulumi.Output<string>;
  /** How the rule survives a reboot; `mechanism: "none"` when the host has no known way. */
  declare readonly persistence: pulumi.Output<Persistence>;
  /** What the last create or update changed. */
  declare readonly actions: pulumi.Output<string[]>;
  /** What the operator must know, e.g. that a saved rule is not loaded at boot (also logged as warnings). */
  declare readonly warnings: pulumi.Output<string[]>;
  /** Chain, as given. */
  declare readonly chain: pulumi.Output<Chain>;
  /** Protocol, as given. */
  declare readonly protocol: pulumi.Output<Protocol>;
  /** Canonical source port match. */
  declare readonly sourcePort: pulumi.Output<PortSpec | undefined>;
  /** Canonical destination port match. */
  declare readonly destinationPort: pulumi.Output<PortSpec | undefined>;
  /** Address family. */
  declare readonly family: pulumi.Output<"ipv4" | "ipv6">;

  constructor(name: string, args: NotrackRuleArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      // Secret as an input too, not only as an output: a password or key given as a plain string
      // never reaches the state in clear.
      connection: secretConnection(args.connection),
      ruleName: args.ruleName ?? ruleNameFor(name),
      owner: ownerOf(name, opts),
      ...outputSlots(NOTRACK_RULE_OUTPUT_NAMES),
    };
    super(thinProvider(NOTRACK_RULE_TYPE), name, props, withSecretConnection(opts), TYPE_MODULE, NOTRACK_RULE_TYPE);
  }
}

// Compile-time only: every output is declared on the class, as `pulumi.Output` of its type.
type _FieldsAreTheOutputs = Assert<DeclaresOutputs<NotrackRule, NotrackRuleOutputs, typeof NOTRACK_RULE_OUTPUT_NAMES>>;

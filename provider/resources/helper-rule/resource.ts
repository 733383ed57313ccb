import * as pulumi from "@pulumi/pulumi";
import { secretConnection, withSecretConnection, type ConnectionArgs } from "../../common/resource-options";
import type { Assert, DeclaresOutputs } from "../../common/output-names";
import { outputSlots } from "../../common/output-names";
import { thinProvider, TYPE_MODULE } from "../../common/thin-provider";
import type { Persistence } from "../notrack-rule/host/backend";
import type { ResolvedBackend } from "../notrack-rule/syntax/rule";
import { ownerOf, ruleNameFor } from "../notrack-rule/resource";
import type { BackendChoice, Chain } from "../notrack-rule/syntax/rule";
import type { PortSpec } from "../notrack-rule/syntax/ports";
import { HELPER_RULE_OUTPUT_NAMES, type ConntrackHelperRuleOutputs, type HelperModuleOutput } from "./outputs";
import { HELPER_RULE_TYPE, type HelperName } from "./schema";

/** Arguments of {@link ConntrackHelperRule}. */
export interface ConntrackHelperRuleArgs {
  /** How to reach the host. Stored as a secret. */
  connection: pulumi.Input<ConnectionArgs>;
  /** The helper: `ftp`, `tftp`, `sip`, `irc`, `h323`, `pptp`, `snmp`, `netbios-ns` or `amanda`. */
  helper: pulumi.Input<HelperName>;
  /** `tcp` or `udp`, one the helper tracks (ftp, irc, pptp: tcp; tftp, snmp, netbios-ns, amanda: udp; sip, h323: either). */
  protocol: pulumi.Input<"tcp" | "udp">;
  /** `PREROUTING` (connections arriving; default) or `OUTPUT` (connections this host opens). */
  chain?: pulumi.Input<Chain>;
  /** Source port or range. */
  sourcePort?: pulumi.Input<number | string>;
  /** Destination port or range: the service's port (`21` for FTP). */
  destinationPort?: pulumi.Input<number | string>;
  /** Source address or CIDR block of the rule's family. */
  source?: pulumi.Input<string>;
  /** Destination address or CIDR block of the rule's family. */
  destination?: pulumi.Input<string>;
  /** Interface connections arrive on (`PREROUTING` only); `eth+` matches a prefix. */
  inInterface?: pulumi.Input<string>;
  /** Interface connections leave through (`OUTPUT` only). */
  outInterface?: pulumi.Input<string>;
  /** `ipv4` (default) or `ipv6`. Changing it replaces the rule. */
  family?: pulumi.Input<"ipv4" | "ipv6">;
  /** `auto` (default), `iptables` or `nftables`, as for NotrackRule. Changing it replaces the rule. */
  backend?: pulumi.Input<BackendChoice>;
  /** Keep the rule across reboots in the host's saved ruleset (default `true`). */
  persist?: pulumi.Input<boolean>;
  /** Name in the rule's identifying comment (`pulumi-conntrack:helper:<ruleName>:...`); default: the resource name. */
  ruleName?: pulumi.Input<string>;
}

/**
 * One explicit conntrack helper assignment on one host: connections the rule matches get the
 * helper (FTP's data connections become RELATED, and so on), and no other connection does. With
 * automatic assignment off (the default since Linux 4.7, the only way since 6.0) this is the secure
 * way to use a helper: one rule per helper that is really needed. iptables: `-t raw -A PREROUTING
 * ... -j CT --helper ftp`; nftables: a `ct helper` object and `ct helper set` in this package's
 * table. The helper's module is loaded where it is one; a host whose modprobe.d keeps it out is
 * refused. Tagged, batched, applied and saved exactly like a NotrackRule, beside them.
 */
export class ConntrackHelperRule extends pulumi.dynamic.Resource {
  /** The identifying comment (also the resource id). */
  declare readonly tag: pulumi.Output<string>;
  /** `iptables-nft`, `iptables-legacy` or `nftables`. */
  declare readonly resolvedBackend: pulumi.Output<ResolvedBackend>;
  /** The rule as written on the host. */
  declare readonly ruleText: pulumi.Output<string>;
  /** How the rule survives a reboot. */
  declare readonly persistence: pulumi.Output<Persistence>;
  /** What the last create or update changed. */
  declare readonly actions: pulumi.Output<string[]>;
  /** What the operator must know (also logged as warnings). */
  declare readonly warnings: pulumi.Output<string[]>;
  /** The kernel's name of the helper (`ftp`, `Q.931`...). */
  declare readonly kernelHelper: pulumi.Output<string>;
  /** The helper's kernel module and its state. */
  declare readonly helperModule: pulumi.Output<HelperModuleOutput>;
  /** Helper, as given. */
  declare readonly helper: pulumi.Output<HelperName>;
  /** Canonical destination port match. */
  declare readonly destinationPort: pulumi.Output<PortSpec | undefined>;
  /** Address family. */
  declare readonly family: pulumi.Output<"ipv4" | "ipv6">;

  constructor(name: string, args: ConntrackHelperRuleArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connection: secretConnection(args.connection),
      ruleName: args.ruleName ?? ruleNameFor(name),
      owner: ownerOf(name, opts),
      ...outputSlots(HELPER_RULE_OUTPUT_NAMES),
    };
    super(thinProvider(HELPER_RULE_TYPE), name, props, withSecretConnection(opts), TYPE_MODULE, HELPER_RULE_TYPE);
  }
}

// Compile-time only: every output is declared on the class, as `pulumi.Output` of its type.
type _FieldsAreTheOutputs = Assert<DeclaresOutputs<ConntrackHelperRule, ConntrackHelperRuleOutputs, typeof HELPER_RULE_OUTPUT_NAMES>>;

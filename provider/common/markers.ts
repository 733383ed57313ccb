/**
 * Names by which this package recognises its own objects on a host, shared by the resources so that
 * each can see the others' (a ModuleBlacklist refuses to disable `nf_conntrack` while a NotrackRule
 * of ours needs it, and the reverse).
 */

/** Every iptables comment / nft rule comment of a managed rule starts with this. */
export const RULE_TAG_PREFIX = "pulumi-conntrack:";

/**
 * Every tag of a ConntrackHelperRule starts with this (a {@link RULE_TAG_PREFIX} tag too, so a
 * ModuleBlacklist sees that conntrack is needed): what tells a helper rule from a NOTRACK rule.
 */
export const HELPER_RULE_TAG_PREFIX = `${RULE_TAG_PREFIX}helper:`;

/** The nftables table (family `inet`) that holds native-nftables NotrackRules and ConntrackHelperRules. */
export const NFT_TABLE = "pulumi_conntrack";

/** First line of every file this package writes under `/etc/modprobe.d`. */
export const MANAGED_FILE_HEADER = "# Managed by pulumi-conntrack. Changes made here by hand are reverted on the next `pulumi up`.";

/** Directory of modprobe configuration. */
export const MODPROBE_DIR = "/etc/modprobe.d";

/** A plain file name under `/etc/modprobe.d`: modprobe reads only names ending in `.conf`. */
export const MODPROBE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.conf$/;

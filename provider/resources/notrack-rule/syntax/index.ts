/**
 * NOTRACK rule syntax, without I/O: addresses and ports, the rule as data, its rendering to and
 * reading from iptables and nft, the tag it carries, and the saved rulesets it is kept in.
 */
export * from "./address";
export * from "./identity";
export * from "./helpers";
export * from "./iptables-rule";
export * from "./nft-rule";
export * from "./ports";
export * from "./rule";
export * from "./saved-iptables";
export * from "./saved-nftables";
export * from "./saved-ruleset";
export * from "./tag";

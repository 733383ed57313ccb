/** A saved-rules file without a final newline keeps its bytes: only this package's lines come and go. */
import { describe, expect, it } from "vitest";
import { editSavedRules, taggedSavedLines } from "../../../provider/resources/notrack-rule/syntax/saved-iptables";
import { editNftablesConf } from "../../../provider/resources/notrack-rule/syntax/saved-nftables";

const TAG = "pulumi-conntrack:dns:0123456789";
const line = `-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}" -j CT --notrack`;
const nft = { chain: "prerouting" as const, text: `meta nfproto ipv4 udp dport 53 notrack comment "${TAG}"` };

describe("a file without a final newline", () => {
  it("iptables: gets the *raw table (ending in a newline, which iptables-restore needs) and is given back byte for byte", () => {
    const before = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT";
    const added = editSavedRules(before, TAG, { chain: "PREROUTING", line })!;
    expect(added.startsWith(before + "\n")).toBe(true);
    expect(added.endsWith("COMMIT\n")).toBe(true);
    expect(taggedSavedLines(added, TAG)).toEqual([line]);
    expect(editSavedRules(added, TAG, undefined)).toBe(before);
  });

  it("iptables: an existing *raw table keeps the file's ending as it is", () => {
    const before = "*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT";
    const added = editSavedRules(before, TAG, { chain: "PREROUTING", line })!;
    expect(added).toBe(`*raw\n:PREROUTING ACCEPT [0:0]\n${line}\nCOMMIT`);
    expect(editSavedRules(added, TAG, undefined)).toBe(before);
  });

  it("iptables: a file with a final newline is unchanged by add then remove, as before", () => {
    const before = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
    expect(editSavedRules(editSavedRules(before, TAG, { chain: "PREROUTING", line })!, TAG, undefined)).toBe(before);
  });

  it("nftables.conf: the block goes after a newline of its own and the file still ends without one", () => {
    const before = "#!/usr/sbin/nft -f\nflush ruleset";
    const added = editNftablesConf(before, TAG, nft)!;
    expect(added.startsWith(before + "\n# BEGIN pulumi-conntrack")).toBe(true);
    expect(added.endsWith("\n")).toBe(false);
    expect(editNftablesConf(added, TAG, undefined)).toBe(before);
    const withNl = "flush ruleset\n";
    expect(editNftablesConf(editNftablesConf(withNl, TAG, nft)!, TAG, undefined)).toBe(withNl);
  });
});

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { NFT_RULES_AWK, NOTRACK_DEPENDENCIES, notrackDependenciesIn, parseNotrackScan } from "../../../provider/resources/module-blacklist/notrack-guard";

const LISTING = `table inet pulumi_conntrack {
	ct helper ftp-standard {
		type "ftp" protocol tcp
		l3proto inet
	}

	set dns {
		type ipv4_addr
		elements = { 10.0.0.1 }
	}

	chain pre {
		type filter hook prerouting priority raw; policy accept;
		comment "managed"
		udp dport 53 notrack comment "pulumi-conntrack:dns"
		ip daddr @dns tcp dport 53 notrack
	}

	chain empty {
		type filter hook output priority raw; policy accept;
	}
}`;

describe("the NotrackRule scan", () => {
  it("prints the rules of the managed nft table and nothing else", () => {
    const out = execFileSync("awk", [NFT_RULES_AWK], { input: LISTING, encoding: "utf8" });
    expect(parseNotrackScan(out)).toEqual([
      { source: "nft", rule: 'udp dport 53 notrack comment "pulumi-conntrack:dns"' },
      { source: "nft", rule: "ip daddr @dns tcp dport 53 notrack" },
    ]);
    const bare = "table inet pulumi_conntrack {\n\tchain pre {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t}\n}\n";
    expect(execFileSync("awk", [NFT_RULES_AWK], { input: bare, encoding: "utf8" })).toBe("");
  });

  it("counts the modules a NotrackRule needs, and only those", () => {
    expect(notrackDependenciesIn(["iptable_nat", "nf_conntrack", "nf_nat", "xt_CT"])).toEqual(["nf_conntrack", "xt_CT"]);
    expect(notrackDependenciesIn(["iptable_nat", "nf_nat", "nf_conntrack_ftp"])).toEqual([]);
    expect(NOTRACK_DEPENDENCIES).toContain("nf_defrag_ipv6");
  });
});

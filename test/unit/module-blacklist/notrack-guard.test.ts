import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  NFT_RULES_AWK,
  NOTRACK_DEPENDENCIES,
  notrackDependenciesIn,
  parseNotrackScan,
} from "../../../provider/resources/module-blacklist/notrack-guard";
import { CORE_INSTALL_ERE, describeCoreBlock, parseCoreBlocks } from "../../../provider/transport/conntrack-core";

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

describe("the NotrackRule pre-check: which conntrack-core module a modprobe.d line disables (issue 12, item 10)", () => {
  const CONF =
    [
      "install nf_defrag_ipv4 /bin/false",
      "install nf-conntrack /bin/true",
      "install nf_conntrack_ftp /bin/false",
      "install nf_defrag_ipv6 /sbin/modprobe --ignore-install nf_defrag_ipv6",
      "blacklist nf_defrag_ipv4",
      "  install   nf_defrag_ipv6   /bin/false",
    ].join("\n") + "\n";

  it("the grep expression finds install lines of every core module and nothing else", () => {
    const out = execFileSync("grep", ["-n", "-E", CORE_INSTALL_ERE], { input: CONF, encoding: "utf8" });
    expect(
      out
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(":")[0]),
    ).toEqual(["1", "2", "4", "6"]);
  });

  it("names the module the line disables, not nf_conntrack", () => {
    const grep = execFileSync("grep", ["-n", "-E", CORE_INSTALL_ERE], { input: CONF, encoding: "utf8" })
      .replace(/^/gm, "/etc/modprobe.d/x.conf\t")
      .replace(/\/etc\/modprobe\.d\/x\.conf\t$/, "");
    const blocks = parseCoreBlocks(grep, "ro module_blacklist=nf_nat,nf-defrag-ipv6 quiet");
    expect(blocks).toEqual([
      { where: "/etc/modprobe.d/x.conf:1", text: "install nf_defrag_ipv4 /bin/false", module: "nf_defrag_ipv4" },
      { where: "/etc/modprobe.d/x.conf:2", text: "install nf-conntrack /bin/true", module: "nf_conntrack" },
      { where: "/etc/modprobe.d/x.conf:6", text: "install   nf_defrag_ipv6   /bin/false", module: "nf_defrag_ipv6" },
      { where: "kernel command line", text: "module_blacklist=nf_nat,nf-defrag-ipv6", module: "nf_defrag_ipv6" },
    ]);
    expect(describeCoreBlock(blocks[0])).toBe(
      "nf_defrag_ipv4 is disabled on this host by `install nf_defrag_ipv4 /bin/false` in /etc/modprobe.d/x.conf:1 (nf_conntrack depends on it, so conntrack cannot load)",
    );
    expect(describeCoreBlock(blocks[0])).not.toContain("install nf_conntrack");
    expect(describeCoreBlock(blocks[1])).toBe(
      "nf_conntrack is disabled on this host by `install nf-conntrack /bin/true` in /etc/modprobe.d/x.conf:2",
    );
    expect(describeCoreBlock(blocks[3])).toMatch(
      /^nf_defrag_ipv6 is disabled on this host by `module_blacklist=nf_nat,nf-defrag-ipv6` in kernel command line/,
    );
  });
});

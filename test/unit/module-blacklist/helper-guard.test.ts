import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  helperModulesIn,
  helperModulesInUse,
  helperModulesOfRule,
  helperUseEre,
} from "../../../provider/resources/module-blacklist/helper-guard";
import { HELPER_INFO, HELPERS } from "../../../provider/transport/conntrack-helpers";

const ipt = (rule: string) => ({ source: "iptables-legacy-save", rule });
const nft = (rule: string) => ({ source: "nft", rule });

const FTP_IPT = ipt('-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "pulumi-conntrack:helper:ftp" -j CT --helper ftp');
const H323_IPT = ipt('-A OUTPUT -p udp -m udp --dport 1719 -m comment --comment "pulumi-conntrack:helper:ras" -j CT --helper RAS');
const Q931_IPT = ipt('-A PREROUTING -p tcp -m tcp --dport 1720 -m comment --comment "pulumi-conntrack:helper:q" -j CT --helper Q.931');
const SIP_NFT = nft('udp dport 5060 counter packets 0 bytes 0 ct helper set "sip-udp" comment "pulumi-conntrack:helper:sip"');
const NETBIOS_NFT = nft('udp dport 137 ct helper set "netbios-ns-udp" comment "pulumi-conntrack:helper:nb"');
const NOTRACK = ipt('-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "pulumi-conntrack:dns" -j CT --notrack');
const NFT_NOTRACK = nft('udp dport 53 notrack comment "pulumi-conntrack:dns"');

describe("helper modules of managed rules", () => {
  it("maps iptables --helper kernel names to modules (h323 registers Q.931 and RAS)", () => {
    expect(helperModulesOfRule(FTP_IPT)).toEqual(["nf_conntrack_ftp"]);
    expect(helperModulesOfRule(H323_IPT)).toEqual(["nf_conntrack_h323"]);
    expect(helperModulesOfRule(Q931_IPT)).toEqual(["nf_conntrack_h323"]);
  });

  it("maps nft ct helper objects to modules, and NOTRACK rules to none", () => {
    expect(helperModulesOfRule(SIP_NFT)).toEqual(["nf_conntrack_sip"]);
    expect(helperModulesOfRule(NETBIOS_NFT)).toEqual(["nf_conntrack_netbios_ns"]);
    expect(helperModulesOfRule(NOTRACK)).toEqual([]);
    expect(helperModulesOfRule(NFT_NOTRACK)).toEqual([]);
    expect(helperModulesOfRule(ipt("-A PREROUTING -j CT --helper nosuch"))).toEqual([]);
    expect(helperModulesOfRule(nft('ct helper set "ftp-udp"'))).toEqual([]);
  });

  it("covers every helper of the one table, each kernel name and object name", () => {
    for (const h of HELPERS) {
      for (const [protocol, kernelName] of Object.entries(HELPER_INFO[h].kernelNames)) {
        expect(helperModulesOfRule(ipt(`-A PREROUTING -p ${protocol} -j CT --helper ${kernelName}`))).toEqual([HELPER_INFO[h].module]);
        expect(helperModulesOfRule(nft(`${protocol} dport 1 ct helper set "${h}-${protocol}"`))).toEqual([HELPER_INFO[h].module]);
      }
    }
  });

  it("lists the listed helper modules in use, with the rules that use them", () => {
    const rules = [FTP_IPT, NOTRACK, SIP_NFT, Q931_IPT];
    expect(helperModulesIn(["nf_nat", "nf_conntrack_ftp", "nf_conntrack_tftp"])).toEqual(["nf_conntrack_ftp", "nf_conntrack_tftp"]);
    expect(helperModulesInUse(rules, ["nf_conntrack_tftp", "nf_conntrack_ftp", "nf_conntrack_h323", "nf_nat"])).toEqual([
      { module: "nf_conntrack_ftp", rules: [FTP_IPT] },
      { module: "nf_conntrack_h323", rules: [Q931_IPT] },
    ]);
    expect(helperModulesInUse(rules, ["nf_conntrack_tftp", "nf_conntrack_irc"])).toEqual([]);
  });
});

describe("helperUseEre (the check under the host lock)", () => {
  const grep = (ere: string, rows: { source: string; rule: string }[]) => {
    try {
      return execFileSync("grep", ["-E", "--", ere], { input: rows.map((r) => `${r.source}\t${r.rule}\n`).join("") })
        .toString()
        .split("\n")
        .filter(Boolean);
    } catch {
      return [];
    }
  };
  const all = [FTP_IPT, H323_IPT, Q931_IPT, SIP_NFT, NETBIOS_NFT, NOTRACK, NFT_NOTRACK];

  it("is null when no listed module holds a helper", () => {
    expect(helperUseEre(["nf_nat", "nf_conntrack"])).toBeNull();
  });

  it("matches exactly the rows helperModulesInUse finds, for each helper module", () => {
    for (const h of HELPERS) {
      const m = HELPER_INFO[h].module;
      const expected = helperModulesInUse(all, [m]).flatMap((u) => u.rules.map((r) => `${r.source}\t${r.rule}`));
      expect(grep(helperUseEre([m])!, all)).toEqual(expected);
    }
    expect(grep(helperUseEre(["nf_conntrack_ftp", "nf_conntrack_h323"])!, all)).toHaveLength(3);
    // `Q.931`'s dot is literal.
    expect(grep(helperUseEre(["nf_conntrack_h323"])!, [ipt("-A PREROUTING -j CT --helper Qx931")])).toEqual([]);
  });
});

/**
 * Rendering and reading iptables-save lines. The expected lines are what iptables 1.8.9 (both
 * variants) printed for these rules on the lab hosts.
 */
import { describe, expect, it } from "vitest";
import {
  deleteCommandFor,
  insertCommandFor,
  iptablesLineHasTag,
  parseIptablesRule,
  parseSavedRaw,
  renderIptablesRule,
  tokenize,
} from "../../../provider/resources/notrack-rule/syntax/iptables-rule";
import type { RuleSpec } from "../../../provider/resources/notrack-rule/syntax/rule";

const TAG = "pulumi-conntrack:dns:0123456789";

describe("renderIptablesRule: exactly what iptables-save prints", () => {
  const cases: Array<[RuleSpec, string]> = [
    [
      { family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 },
      `-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}" -j CT --notrack`,
    ],
    [
      {
        family: "ipv4",
        chain: "OUTPUT",
        protocol: "tcp",
        source: "10.0.0.0/24",
        destination: "1.2.3.4",
        outInterface: "eth0",
        sourcePort: "1000:2000",
      },
      `-A OUTPUT -s 10.0.0.0/24 -d 1.2.3.4/32 -o eth0 -p tcp -m tcp --sport 1000:2000 -m comment --comment "${TAG}" -j CT --notrack`,
    ],
    [
      { family: "ipv4", chain: "PREROUTING", protocol: "sctp", inInterface: "eth+", destinationPort: 53 },
      `-A PREROUTING -i eth+ -p sctp -m sctp --dport 53 -m comment --comment "${TAG}" -j CT --notrack`,
    ],
    [{ family: "ipv4", chain: "PREROUTING", protocol: "all" }, `-A PREROUTING -m comment --comment "${TAG}" -j CT --notrack`],
    [
      { family: "ipv6", chain: "PREROUTING", protocol: "icmpv6", source: "2001:db8::/64" },
      `-A PREROUTING -s 2001:db8::/64 -p ipv6-icmp -m comment --comment "${TAG}" -j CT --notrack`,
    ],
    [
      { family: "ipv6", chain: "PREROUTING", protocol: "udp", source: "fd42::1", destinationPort: 53 },
      `-A PREROUTING -s fd42::1/128 -p udp -m udp --dport 53 -m comment --comment "${TAG}" -j CT --notrack`,
    ],
  ];
  it.each(cases)("%j", (spec, line) => {
    expect(renderIptablesRule(spec, TAG)).toBe(line);
    expect(parseIptablesRule(line, spec.family)).toEqual({ spec, comments: [TAG], notrack: true, extras: [] });
  });

  it("refuses a tag or value that could break out of the line", () => {
    expect(() => renderIptablesRule({ family: "ipv4", chain: "OUTPUT", protocol: "all" }, 'x" -j DROP')).toThrow(/bad rule tag/);
    expect(() => renderIptablesRule({ family: "ipv4", chain: "OUTPUT", protocol: "all", outInterface: "a\nCOMMIT" }, TAG)).toThrow(
      /unexpected rule text/,
    );
  });
});

describe("parseIptablesRule: iptables' own spellings read back as the same rule", () => {
  it("-j NOTRACK is -j CT --notrack; numeric protocols, long options and unquoted comments", () => {
    const a = parseIptablesRule(`-A PREROUTING -p udp -m udp --dport 53 -m comment --comment ${TAG} -j NOTRACK`, "ipv4");
    const b = parseIptablesRule(
      `--append PREROUTING --protocol 17 --match udp --destination-port 53 --match comment --comment "${TAG}" --jump CT --notrack`,
      "ipv4",
    );
    expect(a).toEqual(b);
    expect(a).toMatchObject({ notrack: true, extras: [] });
  });

  it("reports what this package does not write as extras", () => {
    const p = (l: string) => parseIptablesRule(l, "ipv4").extras;
    expect(p(`-A PREROUTING -p tcp -m tcp --dport 53 -m limit --limit 100/sec -m comment --comment "${TAG}" -j CT --notrack`)).toEqual([
      "-m limit --limit 100/sec",
    ]);
    expect(p(`-A PREROUTING ! -s 10.0.0.1/32 -p tcp -m tcp --dport 53 -m comment --comment "${TAG}" -j CT --notrack`)).toEqual([
      "! -s 10.0.0.1/32",
    ]);
    expect(p(`-A PREROUTING -p tcp -m tcp --dport 53 --tcp-flags SYN SYN -m comment --comment "${TAG}" -j CT --notrack`)).toEqual([
      "--tcp-flags SYN SYN",
    ]);
    expect(p(`-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}" -j ACCEPT`)).toEqual(["-j ACCEPT"]);
    expect(p(`-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}" -j CT --helper ftp`)).toEqual(["-j CT --helper ftp"]);
    expect(p(`-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}"`)).toEqual(["no -j CT --notrack target"]);
    expect(p(`-A PREROUTING -p gre -m comment --comment "${TAG}" -j CT --notrack`)).toEqual(["-p gre"]);
  });

  it("tokenizes iptables-save quoting", () => {
    expect(tokenize('-A X -m comment --comment "a \\"b\\" c" -j Y')).toEqual([
      "-A",
      "X",
      "-m",
      "comment",
      "--comment",
      'a "b" c',
      "-j",
      "Y",
    ]);
  });

  it("finds a tag only as a whole comment", () => {
    expect(iptablesLineHasTag(`-A X -m comment --comment "${TAG}" -j CT --notrack`, TAG)).toBe(true);
    expect(iptablesLineHasTag(`-A X -m comment --comment "${TAG}0" -j CT --notrack`, TAG)).toBe(false);
    expect(iptablesLineHasTag(`-A X -m comment --comment "see ${TAG}" -j CT --notrack`, TAG)).toBe(false);
  });
});

describe("saved tables and batch commands", () => {
  it("positions per chain in *raw only", () => {
    const save = [
      "*raw",
      ":PREROUTING ACCEPT [0:0]",
      "-A PREROUTING -j A",
      "-A OUTPUT -j B",
      "-A PREROUTING -j C",
      "COMMIT",
      "*filter",
      "-A PREROUTING -j D",
      "COMMIT",
    ].join("\n");
    expect(parseSavedRaw(save)).toEqual([
      { chain: "PREROUTING", index: 1, line: "-A PREROUTING -j A" },
      { chain: "OUTPUT", index: 1, line: "-A OUTPUT -j B" },
      { chain: "PREROUTING", index: 2, line: "-A PREROUTING -j C" },
    ]);
  });

  it("turns a saved line into -D and -I commands", () => {
    expect(deleteCommandFor("-A PREROUTING -p udp -j CT --notrack")).toBe("-D PREROUTING -p udp -j CT --notrack");
    expect(insertCommandFor("-A PREROUTING -p udp -j CT --notrack", 3)).toBe("-I PREROUTING 3 -p udp -j CT --notrack");
  });
});

/**
 * ConntrackHelperRule's pure parts: the rule as data with a helper, rendered to iptables and nft and
 * read back; saved rulesets holding helper rules beside NOTRACK rules; the plan and its live batch
 * (helper chains, shared ct helper objects and when they go); the helper module's decision and the
 * refusals; the schema's checks.
 */
import { describe, expect, it } from "vitest";
import { handler } from "../../../provider/runtime";
import { applyInvocation } from "../../../provider/resources/notrack-rule/apply";
import { helperRefusal } from "../../../provider/resources/notrack-rule/batch/members";
import { helperModuleDecision, parseHelperModules } from "../../../provider/resources/notrack-rule/host/helper-modules";
import { inspect, inspectRule } from "../../../provider/resources/notrack-rule/outputs";
import { plan } from "../../../provider/resources/notrack-rule/plan";
import { mergePlans } from "../../../provider/resources/notrack-rule/batch/merge";
import { editNftablesConf } from "../../../provider/resources/notrack-rule/syntax/saved-nftables";
import { editSavedRules } from "../../../provider/resources/notrack-rule/syntax/saved-iptables";
import {
  helperObjectDeclaration,
  helperObjectName,
  HELPERS,
  parseHelperObjectName,
} from "../../../provider/resources/notrack-rule/syntax/helpers";
import { parseIptablesRule, renderIptablesRule } from "../../../provider/resources/notrack-rule/syntax/iptables-rule";
import {
  parseNftHelperObjects,
  parseNftListing,
  parseNftRule,
  renderNftRule,
} from "../../../provider/resources/notrack-rule/syntax/nft-rule";
import { type RuleSpec } from "../../../provider/resources/notrack-rule/syntax/rule";
import { ConntrackHelperRuleSchema } from "../../../provider/resources/helper-rule/schema";
import { HELPER_RULE_OUTPUT_NAMES } from "../../../provider/resources/helper-rule/outputs";
import { checkWith } from "../../../provider/common/check";
import { file, observed, planAll, rendered } from "../notrack-rule/fixtures";

const TAG = "pulumi-conntrack:helper:ftp-in:0123456789";
const TAG2 = "pulumi-conntrack:helper:ftp-in2:0123456789";
const NOTRACK_TAG = "pulumi-conntrack:dns:9999999999";
const ftp: RuleSpec = { family: "ipv4", chain: "PREROUTING", protocol: "tcp", destinationPort: 21, helper: "ftp" };
const dns: RuleSpec = { family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 };
const FTP_LINE = `-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "${TAG}" -j CT --helper ftp`;
const DNS_LINE = `-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${NOTRACK_TAG}" -j CT --notrack`;

describe("helpers as data", () => {
  it("names every helper's object deterministically and reads it back", () => {
    for (const h of HELPERS) {
      for (const p of ["tcp", "udp"]) {
        const name = helperObjectName(h, p);
        const back = parseHelperObjectName(name);
        if (back) expect(back).toEqual({ helper: h, protocol: p });
      }
    }
    expect(helperObjectDeclaration("h323-tcp")).toBe('ct helper h323-tcp { type "Q.931" protocol tcp; }');
    expect(helperObjectDeclaration("h323-udp")).toBe('ct helper h323-udp { type "RAS" protocol udp; }');
    expect(parseHelperObjectName("ftp-udp")).toBeUndefined();
    expect(parseHelperObjectName("netbios-ns-udp")).toEqual({ helper: "netbios-ns", protocol: "udp" });
  });
});

describe("iptables: -j CT --helper", () => {
  it("renders as iptables-save prints it and reads back the same rule", () => {
    expect(renderIptablesRule(ftp, TAG)).toBe(FTP_LINE);
    expect(parseIptablesRule(FTP_LINE, "ipv4")).toEqual({ spec: ftp, comments: [TAG], notrack: false, extras: [] });
  });

  it("uses the kernel's helper names (H.323: Q.931 over tcp, RAS over udp)", () => {
    const q931 = renderIptablesRule({ ...ftp, helper: "h323", destinationPort: 1720 }, TAG);
    expect(q931).toContain("-j CT --helper Q.931");
    expect(parseIptablesRule(q931, "ipv4").spec.helper).toBe("h323");
    const ras = renderIptablesRule({ ...ftp, protocol: "udp", helper: "h323", destinationPort: 1719 }, TAG);
    expect(ras).toContain("-j CT --helper RAS");
    expect(() => renderIptablesRule({ ...ftp, protocol: "udp" }, TAG)).toThrow(/does not track/);
  });

  it("keeps what it does not write as extras: an unknown helper, more CT options", () => {
    const p = (l: string) => parseIptablesRule(l, "ipv4").extras;
    expect(p(`-A PREROUTING -p tcp -m comment --comment "${TAG}" -j CT --helper nosuch`)).toEqual(["-j CT --helper nosuch"]);
    expect(p(`-A PREROUTING -p tcp -m comment --comment "${TAG}" -j CT --helper ftp --zone 1`)).toEqual(["-j CT --helper ftp --zone 1"]);
  });
});

/** `nft -j list table` of our table with the given rules and helper objects. */
function listing(rules: Array<{ chain: string; handle: number; comment: string; expr: unknown[] }>, objects: string[] = []) {
  return JSON.stringify({
    nftables: [
      { table: { family: "inet", name: "pulumi_conntrack", handle: 1 } },
      ...objects.map((name, i) => ({ "ct helper": { family: "inet", name, table: "pulumi_conntrack", handle: 100 + i } })),
      ...rules.map((r) => ({ rule: { family: "inet", table: "pulumi_conntrack", ...r } })),
    ],
  });
}
const ftpExpr = (port = 21, object = "ftp-tcp") => [
  { match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv4" } },
  { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: port } },
  { "ct helper": object },
];
const dnsExpr = [
  { match: { op: "==", left: { meta: { key: "nfproto" } }, right: "ipv4" } },
  { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 53 } },
  { notrack: null },
];

describe("nftables: ct helper set in the helper chains", () => {
  it("renders the statement and reads the JSON listing back", () => {
    expect(renderNftRule(ftp, TAG)).toBe(`meta nfproto ipv4 tcp dport 21 counter ct helper set "ftp-tcp" comment "${TAG}"`);
    const json = listing([{ chain: "helper_prerouting", handle: 4, comment: TAG, expr: ftpExpr() }], ["ftp-tcp"]);
    const [r] = parseNftListing(json);
    expect(parseNftRule(r)).toEqual({ spec: ftp, notrack: false, counter: false, extras: [] });
    expect(parseNftHelperObjects(json)).toEqual(["ftp-tcp"]);
  });

  it("a helper statement in a raw-priority chain, or NOTRACK in a helper chain, is drift", () => {
    const [a] = parseNftListing(listing([{ chain: "prerouting", handle: 4, comment: TAG, expr: ftpExpr() }]));
    expect(parseNftRule(a).extras).toEqual(["in chain prerouting"]);
    const [b] = parseNftListing(listing([{ chain: "helper_output", handle: 4, comment: TAG, expr: dnsExpr }]));
    expect(parseNftRule(b).extras).toEqual(["in chain helper_output"]);
  });
});

describe("saved rulesets with helper rules beside NOTRACK rules", () => {
  it("iptables: the helper line goes into *raw like any rule and comes out byte for byte", () => {
    const before = `*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${DNS_LINE}\nCOMMIT\n`;
    const withHelper = editSavedRules(before, TAG, { chain: "PREROUTING", line: FTP_LINE });
    expect(withHelper).toBe(`*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${DNS_LINE}\n${FTP_LINE}\nCOMMIT\n`);
    expect(editSavedRules(withHelper as string, TAG, undefined)).toBe(before);
  });

  it("nftables: the object and the helper chain are written with the first helper rule and go with the last", () => {
    const conf = "#!/usr/sbin/nft -f\nflush ruleset\n";
    const dnsText = renderNftRule(dns, NOTRACK_TAG);
    const notrackOnly = editNftablesConf(conf, NOTRACK_TAG, { chain: "prerouting", text: dnsText })!;
    const both = editNftablesConf(notrackOnly, TAG, { chain: "helper_prerouting", text: renderNftRule(ftp, TAG) })!;
    expect(both).toContain('\ttable inet pulumi_conntrack {\n\tct helper ftp-tcp { type "ftp" protocol tcp; }\n'.slice(1));
    expect(both).toContain(
      `\tchain helper_prerouting {\n\t\ttype filter hook prerouting priority -150; policy accept;\n\t\t${renderNftRule(ftp, TAG)}\n\t}`,
    );
    expect(notrackOnly).not.toContain("helper");
    expect(editNftablesConf(both, TAG, undefined)).toBe(notrackOnly);
  });
});

describe("plan: helper rules in the shared batch", () => {
  const nftOpts = { backend: "nftables" as const, persist: false };

  it("nft add declares the helper chains and the object before the rule", () => {
    const p = plan(observed(), { tag: TAG, spec: ftp, ...nftOpts });
    expect(rendered(p.live)!.text).toBe(
      [
        "add table inet pulumi_conntrack",
        "add chain inet pulumi_conntrack helper_prerouting { type filter hook prerouting priority -150; policy accept; }",
        "add chain inet pulumi_conntrack helper_output { type filter hook output priority -150; policy accept; }",
        'add ct helper inet pulumi_conntrack ftp-tcp { type "ftp" protocol tcp; }',
        `add rule inet pulumi_conntrack helper_prerouting meta nfproto ipv4 tcp dport 21 counter ct helper set "ftp-tcp" comment "${TAG}"`,
        "",
      ].join("\n"),
    );
  });

  it("a batch of a NOTRACK and a helper rule declares each chain pair once", () => {
    const ps = planAll(observed(), [
      { tag: NOTRACK_TAG, spec: dns, ...nftOpts },
      { tag: TAG, spec: ftp, ...nftOpts },
      { tag: TAG2, spec: { ...ftp, destinationPort: 2121 }, ...nftOpts },
    ]);
    const text = rendered(mergePlans(observed(), ps).live)!.text;
    expect(text.match(/add ct helper inet pulumi_conntrack ftp-tcp/g)).toHaveLength(1);
    expect(text.match(/add chain inet pulumi_conntrack helper_prerouting/g)).toHaveLength(1);
    expect(text.match(/add chain inet pulumi_conntrack prerouting/g)).toHaveLength(1);
    expect(text.match(/^add rule /gm)).toHaveLength(3);
  });

  it("delete: the object goes with the last rule that sets it, and the helper chain with its last rule", () => {
    const json = listing(
      [
        { chain: "prerouting", handle: 3, comment: NOTRACK_TAG, expr: dnsExpr },
        { chain: "helper_prerouting", handle: 4, comment: TAG, expr: ftpExpr() },
        { chain: "helper_prerouting", handle: 5, comment: TAG2, expr: ftpExpr(2121) },
      ],
      ["ftp-tcp"],
    );
    const o = observed({ nft: { tableJson: json } });
    const [first, second] = planAll(o, [
      { tag: TAG, ...nftOpts },
      { tag: TAG2, ...nftOpts },
    ]);
    expect(rendered(first.live)!.text).toBe("delete rule inet pulumi_conntrack helper_prerouting handle 4\n");
    expect(rendered(second.live)!.text).toBe(
      [
        "delete rule inet pulumi_conntrack helper_prerouting handle 5",
        "delete ct helper inet pulumi_conntrack ftp-tcp",
        "delete chain inet pulumi_conntrack helper_prerouting",
        "",
      ].join("\n"),
    );
  });

  it("the NOTRACK chains go with the last NOTRACK rule when only helper rules are left, and stay otherwise", () => {
    const chains = [
      { chain: { family: "inet", table: "pulumi_conntrack", name: "prerouting", handle: 1 } },
      { chain: { family: "inet", table: "pulumi_conntrack", name: "output", handle: 2 } },
    ];
    const withChains = (json: string) => {
      const doc = JSON.parse(json) as { nftables: unknown[] };
      return JSON.stringify({ nftables: [doc.nftables[0], ...chains, ...doc.nftables.slice(1)] });
    };
    const helperLeft = withChains(
      listing(
        [
          { chain: "prerouting", handle: 3, comment: NOTRACK_TAG, expr: dnsExpr },
          { chain: "helper_prerouting", handle: 4, comment: TAG, expr: ftpExpr() },
        ],
        ["ftp-tcp"],
      ),
    );
    const p = plan(observed({ nft: { tableJson: helperLeft } }), { tag: NOTRACK_TAG, ...nftOpts });
    expect(rendered(p.live)!.text).toBe(
      [
        "delete rule inet pulumi_conntrack prerouting handle 3",
        "delete chain inet pulumi_conntrack prerouting",
        "delete chain inet pulumi_conntrack output",
        "",
      ].join("\n"),
    );
    const notrackLeft = withChains(
      listing([
        { chain: "prerouting", handle: 3, comment: NOTRACK_TAG, expr: dnsExpr },
        { chain: "output", handle: 5, comment: "pulumi-conntrack:other:1", expr: dnsExpr },
      ]),
    );
    const q = plan(observed({ nft: { tableJson: notrackLeft } }), { tag: NOTRACK_TAG, ...nftOpts });
    expect(rendered(q.live)!.text).toBe("delete rule inet pulumi_conntrack prerouting handle 3\n");
  });

  it("loads a modular helper before the live batch (a thirteenth parameter), and nothing for a built-in one", () => {
    const modular = parseHelperModules("nf_conntrack_ftp=module\n", "", "");
    const p = plan(observed({ helperModules: modular } as never), { tag: TAG, spec: ftp, backend: "iptables-nft", persist: false });
    expect(p.modules).toEqual(["nf_conntrack_ftp"]);
    expect(p.helperModule).toEqual({ name: "nf_conntrack_ftp", state: "loaded" });
    expect(applyInvocation("ipv4", p).argv.at(-1)).toBe("nf_conntrack_ftp");
    const builtin = parseHelperModules("nf_conntrack_ftp=builtin\n", "", "");
    const q = plan(observed({ helperModules: builtin } as never), { tag: TAG, spec: ftp, backend: "iptables-nft", persist: false });
    expect(q.modules).toBeUndefined();
    expect(q.helperModule).toEqual({ name: "nf_conntrack_ftp", state: "builtin" });
    // A NOTRACK plan's invocation keeps its twelve parameters.
    const n = plan(observed(), { tag: NOTRACK_TAG, spec: dns, backend: "iptables-nft", persist: false });
    expect(applyInvocation("ipv4", n).argv.length).toBe(applyInvocation("ipv4", p).argv.length - 1);
  });
});

describe("the helper's module: states, blocks, refusals", () => {
  const grep = [
    "/etc/modprobe.d/a.conf\t1:install nf_conntrack_ftp /bin/false",
    "/etc/modprobe.d/b.conf\t3:blacklist nf-conntrack-sip",
    "/etc/modprobe.d/c.conf\t2:install nf_conntrack_irc /sbin/modprobe --ignore-install nf_conntrack_irc ports=6667,6668",
  ].join("\n");
  const mods = parseHelperModules(
    "nf_conntrack_ftp=module\nnf_conntrack_sip=module\nnf_conntrack_irc=module\nnf_conntrack_tftp=absent\nnf_conntrack_pptp=builtin\nnf_conntrack_amanda=module\n",
    grep,
    "BOOT_IMAGE=/vmlinuz module_blacklist=nf_conntrack_amanda,foo",
  );

  it("reads install and blacklist lines (a modprobe wrapper is no block) and module_blacklist=", () => {
    expect(mods.nf_conntrack_ftp.blocks).toEqual([{ where: "/etc/modprobe.d/a.conf:1", text: "install nf_conntrack_ftp /bin/false" }]);
    expect(mods.nf_conntrack_sip.blocks).toEqual([{ where: "/etc/modprobe.d/b.conf:3", text: "blacklist nf-conntrack-sip" }]);
    expect(mods.nf_conntrack_irc.blocks).toEqual([]);
    expect(mods.nf_conntrack_amanda.blocks).toEqual([{ where: "kernel command line", text: "module_blacklist=nf_conntrack_amanda,foo" }]);
    expect(mods.nf_conntrack_snmp).toEqual({ state: "unknown", blocks: [] });
  });

  it("decides: load, nothing (built in, or unknown), or refuse with the way out", () => {
    expect(helperModuleDecision("irc", mods)).toEqual({ load: true, module: "nf_conntrack_irc" });
    expect(helperModuleDecision("pptp", mods)).toEqual({ load: false });
    expect(helperModuleDecision("snmp", mods)).toEqual({ load: false });
    expect(helperModuleDecision("ftp", mods)).toMatchObject({
      refused: expect.stringContaining(
        "nf_conntrack_ftp is kept out on this host by `install nf_conntrack_ftp /bin/false` in /etc/modprobe.d/a.conf:1",
      ),
      hint: expect.stringContaining("ModuleBlacklist"),
    });
    expect(helperModuleDecision("tftp", mods)).toMatchObject({ refused: expect.stringContaining("has no nf_conntrack_tftp") });
    expect(helperModuleDecision("amanda", mods)).toMatchObject({ hint: expect.stringContaining("kernel command line") });
  });

  it("refuses as data: a kept-out module, and native nftables on a kernel without ct helper objects (< 4.12)", () => {
    const o = observed({ helperModules: mods } as never);
    expect(helperRefusal({ choice: "iptables" }, o, "ftp")).toMatchObject({
      error: "conflict",
      message: expect.stringContaining("kept out"),
    });
    expect(helperRefusal({ choice: "iptables" }, o, "irc")).toBeUndefined();
    const old = observed({ facts: { kernelRelease: "4.9.0-19-amd64", kernel: { major: 4, minor: 9, patch: 0 } } });
    expect(helperRefusal({ choice: "nftables" }, old, "ftp")).toMatchObject({
      error: "unsupported",
      hint: expect.stringContaining('backend: "iptables"'),
    });
    expect(helperRefusal({ choice: "iptables" }, old, "ftp")).toBeUndefined();
  });
});

describe("read: a rule of the other kind under a tag is drift", () => {
  it("a NotrackRule whose live rule was turned into a helper rule by hand reports it", () => {
    const o = observed({ iptables: { save: `*raw\n${DNS_LINE.replace("CT --notrack", "CT --helper tftp")}\nCOMMIT\n` } });
    const olds = {
      connection: {} as never,
      ruleName: "dns",
      ...dns,
      allowManagementTraffic: false,
      backend: "auto" as const,
      persist: false,
      tag: NOTRACK_TAG,
      resolvedBackend: "iptables-nft" as const,
    };
    const r = inspect(o, olds)!;
    expect(r.inputs.observedDrift).toEqual([expect.stringContaining("sets the tftp helper")]);
    expect("helper" in r.inputs).toBe(false);
  });

  it("a helper rule reads back its helper and nothing else", () => {
    const o = observed({ iptables: { save: `*raw\n${FTP_LINE}\nCOMMIT\n` }, persist: { files: { "/etc/iptables/rules.v4": file("") } } });
    const r = inspectRule(o, { ...ftp, persist: false, tag: TAG, resolvedBackend: "iptables-nft" }, [...HELPER_RULE_OUTPUT_NAMES]);
    expect(r!.inputs).toMatchObject({ helper: "ftp", protocol: "tcp", destinationPort: 21 });
    expect(r!.inputs.observedDrift).toBeUndefined();
  });
});

describe("ConntrackHelperRule inputs", () => {
  const conn = { host: "192.0.2.1", user: "root", password: "x" };
  it("refuses a protocol the helper does not track and an unknown helper", () => {
    const bad = checkWith(ConntrackHelperRuleSchema, { connection: conn, ruleName: "x", helper: "ftp", protocol: "udp" });
    expect(bad.ok ? [] : bad.failures).toEqual([{ property: "protocol", reason: "the ftp helper tracks tcp only (protocol is udp)" }]);
    const unknown = checkWith(ConntrackHelperRuleSchema, { connection: conn, ruleName: "x", helper: "quake", protocol: "udp" });
    expect(unknown.ok).toBe(false);
  });

  it("defaults: PREROUTING, ipv4, auto, persist; and check through the runtime", async () => {
    const c = await handler("ConntrackHelperRule").check(
      {},
      { connection: conn, ruleName: "x", helper: "sip", protocol: "udp", destinationPort: 5060 },
    );
    expect(c.failures).toBeUndefined();
    expect(c.inputs).toMatchObject({ chain: "PREROUTING", family: "ipv4", backend: "auto", persist: true });
  });
});

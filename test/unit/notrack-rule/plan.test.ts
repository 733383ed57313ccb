/** plan(): the changes for one resource, computed from an observation without a host. */
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { applyInvocation } from "../../../provider/resources/notrack-rule/apply";
import { parseObserved } from "../../../provider/resources/notrack-rule/observe";
import { plan } from "../../../provider/resources/notrack-rule/plan";
import type { RuleSpec } from "../../../provider/resources/notrack-rule/syntax/rule";
import { renderNftBlock } from "../../../provider/resources/notrack-rule/syntax/saved-nftables";
import { file, observed, nftTableJson, rendered } from "./fixtures";

const TAG = "pulumi-conntrack:dns:0123456789";
const OTHER = "pulumi-conntrack:other:9999999999";
const spec: RuleSpec = { family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: 53 };
const line = (tag: string, port = 53, chain = "PREROUTING", target = "CT --notrack") =>
  `-A ${chain} -p udp -m udp --dport ${port} -m comment --comment "${tag}" -j ${target}`;
const save = (...lines: string[]) => ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...lines, "COMMIT"].join("\n");
const FOREIGN = "-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack";

describe("plan on iptables", () => {
  it("appends a new rule without a guard, so parallel creates never conflict", () => {
    const p = plan(observed({ iptables: { save: save(FOREIGN) } }), { tag: TAG, spec, persist: false, backend: "iptables-nft" });
    expect(rendered(p.live)).toEqual({ backend: "iptables-nft", text: `*raw\n${line(TAG)}\nCOMMIT\n` });
    expect(p.file).toBeUndefined();
    expect(p.changes).toEqual([{ action: "add", backend: "iptables-nft", rule: line(TAG) }]);
    expect(p.persistence).toEqual({ mechanism: "disabled", note: expect.any(String) });
  });

  it("does nothing when the rule is there, also written as -j NOTRACK", () => {
    for (const target of ["CT --notrack", "NOTRACK"]) {
      const p = plan(observed({ iptables: { save: save(FOREIGN, line(TAG, 53, "PREROUTING", target)) } }), {
        tag: TAG,
        spec,
        persist: false,
        backend: "iptables-nft",
      });
      expect(p.live).toBeUndefined();
      expect(p.changes).toEqual([]);
    }
  });

  it("replaces in place: -D the exact old line, -I at its position, guarded by the chains' state", () => {
    const o = observed({ iptables: { save: save(FOREIGN, line(OTHER), line(TAG, 5300), "-A PREROUTING -j CT --notrack") } });
    const p = plan(o, { tag: TAG, spec, persist: false, backend: "iptables-nft" });
    expect(rendered(p.live)).toEqual({
      backend: "iptables-nft",
      text: `*raw\n-D ${line(TAG, 5300).slice(3)}\n-I PREROUTING 3 ${line(TAG).slice(14)}\nCOMMIT\n`,
      guard: { kind: "iptables", hashes: { PREROUTING: "h-pre", OUTPUT: "h-out" } },
    });
  });

  it("collapses duplicates and moves between chains", () => {
    const dup = plan(observed({ iptables: { save: save(line(TAG), line(TAG)) } }), {
      tag: TAG,
      spec,
      persist: false,
      backend: "iptables-nft",
    });
    expect(rendered(dup.live)!.text).toBe(
      `*raw\n-D ${line(TAG).slice(3)}\n-D ${line(TAG).slice(3)}\n-I PREROUTING 1 ${line(TAG).slice(14)}\nCOMMIT\n`,
    );
    const moved = plan(observed({ iptables: { save: save(line(TAG, 53, "OUTPUT")) } }), {
      tag: TAG,
      spec,
      persist: false,
      backend: "iptables-legacy",
    });
    expect(rendered(moved.live)!.text).toBe(`*raw\n-D ${line(TAG, 53, "OUTPUT").slice(3)}\n${line(TAG)}\nCOMMIT\n`);
  });

  it("deletes only the tagged rules", () => {
    const p = plan(observed({ iptables: { save: save(FOREIGN, line(TAG), line(OTHER)) } }), {
      tag: TAG,
      persist: false,
      backend: "iptables-nft",
    });
    expect(rendered(p.live)!.text).toBe(`*raw\n-D ${line(TAG).slice(3)}\nCOMMIT\n`);
    expect(
      plan(observed({ iptables: { save: save(FOREIGN) } }), { tag: TAG, persist: false, backend: "iptables-nft" }).live,
    ).toBeUndefined();
  });

  it("saves into the existing rules file with a hash guard, and takes the rule out when persist goes off", () => {
    const before = `*raw\n${FOREIGN}\nCOMMIT\n`;
    const o = observed({ persist: { etcIptablesDir: true, files: { "/etc/iptables/rules.v4": file(before) } } });
    const p = plan(o, { tag: TAG, spec, persist: true, backend: "iptables-nft" });
    expect(p.file).toEqual({
      path: "/etc/iptables/rules.v4",
      expectedSha256: file(before).sha256,
      content: `*raw\n${FOREIGN}\n${line(TAG)}\nCOMMIT\n`,
      mode: "0640",
    });
    expect(p.persistence).toMatchObject({ mechanism: "netfilter-persistent", file: "/etc/iptables/rules.v4" });
    const saved = observed({
      iptables: { save: save(line(TAG)) },
      persist: { files: { "/etc/iptables/rules.v4": file(p.file!.content!) } },
    });
    expect(plan(saved, { tag: TAG, spec, persist: true, backend: "iptables-nft" })).toMatchObject({ changes: [] });
    const off = plan(saved, { tag: TAG, spec, persist: false, backend: "iptables-nft" });
    expect(off.live).toBeUndefined();
    expect(off.file).toMatchObject({ content: before });
    expect(off.changes).toEqual([{ action: "unsave", file: "/etc/iptables/rules.v4" }]);
  });

  it("writes back a file in any encoding byte for byte", () => {
    const bytes = Buffer.from([...Buffer.from("# caf"), 0xe9, 0xff, ...Buffer.from(" \u00e9 utf-8 too\n*raw\nCOMMIT\n")]);
    const o = parseObserved(`@@ctk files\nfile=/etc/iptables/rules.v4\nb64=${bytes.toString("base64")}\n`, "ipv4");
    expect(o.persist.files["/etc/iptables/rules.v4"].sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
    const p = plan({ ...observed(), persist: o.persist }, { tag: TAG, spec, persist: true, backend: "iptables-nft" });
    const { stdin } = applyInvocation("ipv4", p);
    const end = Buffer.from(`${line(TAG)}\nCOMMIT\n`);
    expect(Buffer.compare(stdin, Buffer.concat([bytes.subarray(0, bytes.length - 7), end]))).toBe(0);
  });

  it("compiles to positional arguments and stdin only", () => {
    const o = observed({ iptables: { save: save(line(TAG, 54)) }, persist: { etcIptablesDir: true } });
    const p = plan(o, { tag: TAG, spec, persist: true, backend: "iptables-legacy" });
    const { argv, stdin } = applyInvocation("ipv4", p);
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(argv.slice(3)).toEqual([
      "sh",
      "4",
      "iptables",
      "legacy",
      rendered(p.live)!.text,
      "iptables",
      "h-pre",
      "h-out",
      "/etc/iptables/rules.v4",
      "absent",
      "0640",
      "",
      // The saved file's new content (standard input) is checked whole against its sum before anything changes.
      createHash("sha256").update(stdin).digest("hex"),
    ]);
    expect(stdin.toString("latin1")).toBe(p.file!.content);
    expect(argv[2]).not.toContain(TAG);
  });
});

describe("plan on nftables", () => {
  const want = `meta nfproto ipv4 udp dport 53 counter notrack comment "${TAG}"`;
  it("adds the table, chains and rule in one transaction", () => {
    const p = plan(observed(), { tag: TAG, spec, persist: false, backend: "nftables" });
    expect(rendered(p.live)!.text).toBe(
      [
        "add table inet pulumi_conntrack",
        "add chain inet pulumi_conntrack prerouting { type filter hook prerouting priority -300; policy accept; }",
        "add chain inet pulumi_conntrack output { type filter hook output priority -300; policy accept; }",
        `add rule inet pulumi_conntrack prerouting ${want}`,
        "",
      ].join("\n"),
    );
    expect(p.live!.guard).toBeUndefined();
  });

  it("replaces by handle in place, and deletes the table only with its last rule", () => {
    const o = observed({
      nft: {
        tableJson: nftTableJson([
          { chain: "prerouting", handle: 4, comment: TAG, port: 54 },
          { chain: "output", handle: 5, port: 1 },
        ]),
      },
    });
    expect(rendered(plan(o, { tag: TAG, spec, persist: false, backend: "nftables" }).live)).toEqual({
      backend: "nftables",
      text: `replace rule inet pulumi_conntrack prerouting handle 4 ${want}\n`,
      guard: { kind: "nft", hash: "h-nft" },
    });
    expect(rendered(plan(o, { tag: TAG, persist: false, backend: "nftables" }).live)!.text).toBe(
      "delete rule inet pulumi_conntrack prerouting handle 4\n",
    );
    const alone = observed({ nft: { tableJson: nftTableJson([{ chain: "prerouting", handle: 4, comment: TAG, port: 53 }]) } });
    expect(rendered(plan(alone, { tag: TAG, persist: false, backend: "nftables" }).live)!.text).toBe(
      "delete rule inet pulumi_conntrack prerouting handle 4\ndelete table inet pulumi_conntrack\n",
    );
    expect(plan(alone, { tag: TAG, spec, persist: false, backend: "nftables" }).live).toBeUndefined();
  });

  it("a rule without counter (as earlier releases wrote it) gets one, in place, from an apply that runs anyway", () => {
    const old = observed({
      nft: { tableJson: nftTableJson([{ chain: "prerouting", handle: 4, comment: TAG, port: 53, counter: false }]) },
      persist: {
        files: { "/etc/nftables.conf": file(`flush ruleset\n${renderOldBlock()}`) },
      },
    });
    const p = plan(old, { tag: TAG, spec, persist: true, backend: "nftables" });
    expect(rendered(p.live)).toEqual({
      backend: "nftables",
      text: `replace rule inet pulumi_conntrack prerouting handle 4 ${want}\n`,
      guard: { kind: "nft", hash: "h-nft" },
    });
    expect(p.changes).toEqual([
      { action: "replace", backend: "nftables", from: [`meta nfproto ipv4 udp dport 53 notrack comment "${TAG}"`], rule: want },
      { action: "save", file: "/etc/nftables.conf", rule: want },
    ]);
    expect(p.file!.content).toBe(`flush ruleset\n${renderOldBlock().replace("53 notrack", "53 counter notrack")}`);
  });

  it("saves into /etc/nftables.conf and says when nftables.service does not load it", () => {
    const o = observed({ persist: { nftService: "disabled", files: { "/etc/nftables.conf": file("flush ruleset\n") } } });
    const p = plan(o, { tag: TAG, spec, persist: true, backend: "nftables" });
    expect(p.file!.content).toContain(`\t\t${want}\n`);
    expect(p.persistence).toEqual({
      mechanism: "nftables",
      file: "/etc/nftables.conf",
      note: expect.stringMatching(/nftables.service is disabled/),
    });
  });
});

/** The managed block of /etc/nftables.conf as a release before counters wrote it. */
function renderOldBlock(): string {
  return [
    ...renderNftBlock({
      prerouting: [`meta nfproto ipv4 udp dport 53 notrack comment "${TAG}"`],
      output: [],
      helper_prerouting: [],
      helper_output: [],
    }),
    "",
  ].join("\n");
}

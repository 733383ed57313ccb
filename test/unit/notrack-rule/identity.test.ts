/**
 * Identities a retry recognises: a create's tag is derived from the resource (owner, rule name,
 * family, backend, host, port) plus a nonce; the create takes over every rule carrying the derived
 * prefix (an interrupted attempt's leftover, or the replaced resource's rule) and re-tags it, live
 * and saved, so there is never a duplicate or an orphan. Pure.
 */
import { describe, expect, it } from "vitest";
import { mergePlans } from "../../../provider/resources/notrack-rule/batch/merge";
import { plan } from "../../../provider/resources/notrack-rule/plan";
import { adoptPrefix, tagWithPrefix } from "../../../provider/resources/notrack-rule/syntax/identity";
import { tagMatches, TAG_PATTERN } from "../../../provider/resources/notrack-rule/syntax/tag";
import type { RuleSpec } from "../../../provider/resources/notrack-rule/syntax/rule";
import { editNftablesConf } from "../../../provider/resources/notrack-rule/syntax/saved-nftables";
import { file, nftTableJson, observed, planAll, rendered } from "./fixtures";

const src = { owner: "proj/prod/parent::x/dns", ruleName: "dns", family: "ipv4", backend: "auto", host: "10.0.0.5", port: 22 };
const udp = (port: number): RuleSpec => ({ family: "ipv4", chain: "PREROUTING", protocol: "udp", destinationPort: port });
const line = (tag: string, port: number) => `-A PREROUTING -p udp -m udp --dport ${port} -m comment --comment "${tag}" -j CT --notrack`;
const save = (...lines: string[]) => ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...lines, "COMMIT", ""].join("\n");

describe("adoptPrefix", () => {
  it("is deterministic for one resource and differs for another stack, project, name, host, family or backend", () => {
    const p = adoptPrefix(src);
    expect(adoptPrefix({ ...src })).toBe(p);
    expect(p).toMatch(/^pulumi-conntrack:dns:[0-9a-f]{12}\.$/);
    for (const other of [
      { owner: "proj/staging/parent::x/dns" },
      { owner: "other/prod/parent::x/dns" },
      { owner: "proj/prod/parent::y/dns" },
      { host: "10.0.0.6" },
      { port: 2222 },
      { family: "ipv6" },
      { backend: "nftables" },
    ]) {
      expect(adoptPrefix({ ...src, ...other }), JSON.stringify(other)).not.toBe(p);
    }
  });

  it("makes tags that fit the tag pattern at the longest rule name", () => {
    const t = tagWithPrefix(adoptPrefix({ ...src, ruleName: "r".repeat(80) }), "abcdef");
    expect(TAG_PATTERN.test(t)).toBe(true);
  });

  it("matches the exact tag, and the prefix only when asked", () => {
    const p = adoptPrefix(src);
    expect(tagMatches(`${p}aaaaaa`, `${p}bbbbbb`)).toBe(false);
    expect(tagMatches(`${p}aaaaaa`, `${p}bbbbbb`, p)).toBe(true);
    expect(tagMatches(`${adoptPrefix({ ...src, owner: "proj/dev/parent::x/dns" })}aaaaaa`, `${p}bbbbbb`, p)).toBe(false);
    expect(tagMatches("pulumi-conntrack:dns:0123456789", `${p}bbbbbb`, "")).toBe(false);
  });
});

describe("a create that finds its earlier attempt's rule", () => {
  const p = adoptPrefix(src);
  const old = `${p}aaaaaa`;
  const now = `${p}bbbbbb`;

  it("re-tags the live rule in place and in the saved file instead of adding a second one (iptables)", () => {
    const o = observed({
      iptables: { save: save(line(old, 53)) },
      persist: { etcIptablesDir: true, files: { "/etc/iptables/rules.v4": file(save(line(old, 53))) } },
    });
    const r = plan(o, { tag: now, spec: udp(53), persist: true, backend: "iptables-nft", adopt: p });
    expect(r.changes.map((c) => c.action)).toEqual(["replace", "save"]);
    expect(rendered(r.live)?.text).toBe(
      ["*raw", line(old, 53).replace("-A ", "-D "), line(now, 53).replace("-A PREROUTING", "-I PREROUTING 1"), "COMMIT", ""].join("\n"),
    );
    expect(r.live?.guard).toBeDefined();
    expect(r.file?.content).toBe(save(line(now, 53)));
  });

  it("takes over duplicates left by two earlier attempts, keeping one rule", () => {
    const o = observed({ iptables: { save: save(line(old, 53), line(`${p}cccccc`, 53)) } });
    const r = plan(o, { tag: now, spec: udp(53), persist: false, backend: "iptables-nft", adopt: p });
    expect(
      rendered(r.live)
        ?.text.split("\n")
        .filter((l) => l.startsWith("-D ")),
    ).toHaveLength(2);
    expect(
      rendered(r.live)
        ?.text.split("\n")
        .filter((l) => l.startsWith("-I ") || l.startsWith("-A ")),
    ).toEqual([line(now, 53).replace("-A PREROUTING", "-I PREROUTING 1")]);
  });

  it("guards a fresh add, so an earlier attempt still running on the host cannot add a second rule", () => {
    const o = observed({ iptables: { save: save() } });
    expect(plan(o, { tag: now, spec: udp(53), persist: false, backend: "iptables-nft", adopt: p }).live?.guard).toEqual({
      kind: "iptables",
      hashes: { PREROUTING: "h-pre", OUTPUT: "h-out" },
    });
    // Without an identity to recognise (state of 0.1 releases), appending stays unguarded.
    expect(plan(o, { tag: now, spec: udp(53), persist: false, backend: "iptables-nft" }).live?.guard).toBeUndefined();
    const n = observed({ nft: { tableJson: "" } });
    expect(plan(n, { tag: now, spec: udp(53), persist: false, backend: "nftables", adopt: p }).live?.guard).toEqual({
      kind: "nft",
      hash: "h-nft",
    });
  });

  it("re-tags with nft's replace rule, and in the nftables.conf block", () => {
    const o = observed({ nft: { tableJson: nftTableJson([{ chain: "prerouting", handle: 7, comment: old, port: 53 }]) } });
    const r = plan(o, { tag: now, spec: udp(53), persist: false, backend: "nftables", adopt: p });
    expect(rendered(r.live)?.text).toContain("replace rule inet pulumi_conntrack prerouting handle 7 ");
    expect(rendered(r.live)?.text).toContain(`comment "${now}"`);
    const conf = "flush ruleset\n";
    const withOld = editNftablesConf(conf, old, { chain: "prerouting", text: `meta nfproto ipv4 udp dport 53 notrack comment "${old}"` })!;
    const retagged = editNftablesConf(
      withOld,
      now,
      { chain: "prerouting", text: `meta nfproto ipv4 udp dport 53 notrack comment "${now}"` },
      p,
    )!;
    expect(retagged).toBe(withOld.replace(old, now));
  });

  it("never touches another resource's rule, nor one of the same name in another stack", () => {
    const otherStack = `${adoptPrefix({ ...src, owner: "proj/dev/parent::x/dns" })}aaaaaa`;
    const o = observed({ iptables: { save: save(line(otherStack, 53), line("pulumi-conntrack:dns:0123456789", 53)) } });
    const r = plan(o, { tag: now, spec: udp(53), persist: false, backend: "iptables-nft", adopt: p });
    expect(r.changes.map((c) => c.action)).toEqual(["add"]);
  });

  it("does nothing more once the rule is its own (a second retry)", () => {
    const o = observed({ iptables: { save: save(line(now, 53)) } });
    expect(plan(o, { tag: now, spec: udp(53), persist: false, backend: "iptables-nft", adopt: p }).changes).toEqual([]);
  });

  it("is left with nothing to delete for the replaced resource after taking its rule over", () => {
    const o = observed({ iptables: { save: save(line(old, 53)) } });
    const [create, del] = planAll(o, [
      { tag: now, spec: udp(53), persist: false, backend: "iptables-nft", adopt: p },
      { tag: old, persist: false, backend: "iptables-nft" },
    ]);
    expect(del.changes).toEqual([]);
    expect(rendered(mergePlans(o, [create]).live)?.text).toContain(now);
  });
});

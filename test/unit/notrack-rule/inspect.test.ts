/** What read reports, from an observation: equal, drifted (as inputs or observedDrift), or gone. */
import { describe, expect, it } from "vitest";
import { inspect, type Stored } from "../../../provider/resources/notrack-rule/outputs";
import { renderNftBlock } from "../../../provider/resources/notrack-rule/syntax/saved-nftables";
import { file, nftTableJson, observed } from "./fixtures";

const TAG = "pulumi-conntrack:dns:0123456789";
const line = (port: number | string = 53, extra = "") =>
  `-A PREROUTING -p udp -m udp --dport ${port}${extra} -m comment --comment "${TAG}" -j CT --notrack`;
const save = (...lines: string[]) => ["*raw", ":PREROUTING ACCEPT [0:0]", ...lines, "COMMIT"].join("\n");
const olds: Stored = {
  connection: { host: "127.0.0.9", port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15, sudo: false },
  ruleName: "dns",
  chain: "PREROUTING",
  protocol: "udp",
  destinationPort: 53,
  family: "ipv4",
  backend: "auto",
  persist: true,
  allowManagementTraffic: false,
  tag: TAG,
  resolvedBackend: "iptables-nft",
  ruleText: line(),
  actions: ["added"],
};
const inputsOf = (s: Stored) => {
  const { tag, resolvedBackend, ruleText, actions, ...rest } = s;
  void tag, resolvedBackend, ruleText, actions;
  return rest;
};
const savedFile = (content: string) => ({ etcIptablesDir: true, files: { "/etc/iptables/rules.v4": file(content) } });

describe("inspect", () => {
  it("reads back the program's inputs when the host matches", () => {
    const r = inspect(observed({ iptables: { save: save(line()) }, persist: savedFile(save(line())) }), olds)!;
    expect(r.inputs).toEqual(inputsOf(olds));
    expect(r.outs).toEqual({
      tag: TAG,
      resolvedBackend: "iptables-nft",
      ruleText: line(),
      persistence: expect.objectContaining({ mechanism: "netfilter-persistent" }),
      actions: ["added"],
      warnings: [expect.stringContaining("netfilter-persistent is not installed")],
    });
  });

  it("shows a hand-edited match in the inputs, and the saved copy that no longer matches it not at all", () => {
    const r = inspect(observed({ iptables: { save: save(line("5300:5301")) }, persist: savedFile(save(line())) }), olds)!;
    expect(r.inputs).toEqual({ ...inputsOf(olds), destinationPort: "5300:5301" });
  });

  it("reports what inputs cannot express as observedDrift", () => {
    const extra = inspect(
      observed({ iptables: { save: save(line(53, " -m limit --limit 1/sec")) }, persist: savedFile(save(line())) }),
      olds,
    )!;
    expect(extra.inputs.observedDrift).toEqual(["the live rule has -m limit --limit 1/sec"]);
    const dup = inspect(observed({ iptables: { save: save(line(), line()) }, persist: savedFile(save(line())) }), olds)!;
    expect(dup.inputs.observedDrift).toEqual([expect.stringMatching(/^2 live rules carry the tag/)]);
    const unsaved = inspect(observed({ iptables: { save: save(line()) }, persist: savedFile("") }), olds)!;
    expect(unsaved.inputs.observedDrift).toEqual(["the rule is not saved in /etc/iptables/rules.v4"]);
    const stale = inspect(observed({ iptables: { save: save(line()) }, persist: savedFile(save(line(54))) }), olds)!;
    expect(stale.inputs.observedDrift).toEqual([expect.stringMatching(/saved in \/etc\/iptables\/rules.v4 differs/)]);
    const notWanted = inspect(observed({ iptables: { save: save(line()) }, persist: savedFile(save(line())) }), {
      ...olds,
      persist: false,
    })!;
    expect(notWanted.inputs.observedDrift).toEqual([expect.stringMatching(/although persist is false/)]);
  });

  it("is gone when deleted live and saved; repairs under the same tag when still saved", () => {
    expect(inspect(observed({ persist: savedFile("") }), olds)).toBeUndefined();
    expect(inspect(observed(), { ...olds, persist: false })).toBeUndefined();
    const r = inspect(observed({ persist: savedFile(save(line())) }), olds)!;
    expect(r.inputs).toEqual({
      ...inputsOf(olds),
      observedDrift: ["the rule is missing from the live ruleset but still saved in /etc/iptables/rules.v4"],
    });
  });

  it("never reads rules of another variant, tag or table", () => {
    const other = `-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}x" -j CT --notrack`;
    expect(inspect(observed({ iptables: { save: save(other) } }), { ...olds, persist: false })).toBeUndefined();
    expect(
      inspect(observed({ iptables: { save: save(line()) } }), { ...olds, persist: false, resolvedBackend: "nftables" }),
    ).toBeUndefined();
  });

  describe("nftables: the counter is not part of the rule", () => {
    const nftOlds: Stored = {
      ...olds,
      resolvedBackend: "nftables",
      ruleText: `meta nfproto ipv4 udp dport 53 counter notrack comment "${TAG}"`,
    };
    const conf = (text: string) => ({
      files: {
        "/etc/nftables.conf": file(
          ["flush ruleset", ...renderNftBlock({ prerouting: [text], output: [], helper_prerouting: [], helper_output: [] }), ""].join("\n"),
        ),
      },
    });
    const nft = (counter: boolean) => ({ tableJson: nftTableJson([{ chain: "prerouting", handle: 4, comment: TAG, port: 53, counter }]) });
    const current = `meta nfproto ipv4 udp dport 53 counter notrack comment "${TAG}"`;
    const before = `meta nfproto ipv4 udp dport 53 notrack comment "${TAG}"`;

    it("reads a rule with counts as the program's inputs, whatever the counts", () => {
      const r = inspect(observed({ nft: nft(true), persist: conf(current) }), nftOlds)!;
      expect(r.inputs).toEqual(inputsOf(nftOlds));
      expect(r.outs.ruleText).toBe(current);
    });

    it("reads a rule and saved copy written before counters (none) as in sync, naming the rule as it is", () => {
      const r = inspect(observed({ nft: nft(false), persist: conf(before) }), { ...nftOlds, ruleText: before })!;
      expect(r.inputs).toEqual(inputsOf(nftOlds));
      expect(r.inputs.observedDrift).toBeUndefined();
      expect(r.outs.ruleText).toBe(before);
      // Either one without it, the other with it: still no drift.
      expect(inspect(observed({ nft: nft(true), persist: conf(before) }), nftOlds)!.inputs.observedDrift).toBeUndefined();
      expect(inspect(observed({ nft: nft(false), persist: conf(current) }), nftOlds)!.inputs.observedDrift).toBeUndefined();
    });

    it("still reports a saved copy that differs in its match", () => {
      const r = inspect(observed({ nft: nft(true), persist: conf(current.replace("53", "54")) }), nftOlds)!;
      expect(r.inputs.observedDrift).toEqual([expect.stringMatching(/saved in \/etc\/nftables.conf differs/)]);
    });
  });
});

/**
 * The live batch is data (operations) from plan to apply: merged per host as data, rendered into
 * iptables-restore or nft text once, by apply. Pure.
 */
import { describe, expect, it } from "vitest";
import { applyInvocation } from "../../../provider/resources/notrack-rule/apply";
import { renderLiveBatch } from "../../../provider/resources/notrack-rule/batch/render";
import { mergePlans } from "../../../provider/resources/notrack-rule/batch/merge";
import { plan } from "../../../provider/resources/notrack-rule/plan";
import type { RuleSpec } from "../../../provider/resources/notrack-rule/syntax";
import { nftTableJson, observed, planAll } from "./fixtures";

const A = "pulumi-conntrack:a:0000000001";
const B = "pulumi-conntrack:b:0000000002";
const udp = (port: number, chain: "PREROUTING" | "OUTPUT" = "PREROUTING"): RuleSpec => ({
  family: "ipv4",
  chain,
  protocol: "udp",
  destinationPort: port,
});
const line = (tag: string, port: number, chain = "PREROUTING") =>
  `-A ${chain} -p udp -m udp --dport ${port} -m comment --comment "${tag}" -j CT --notrack`;

describe("the live batch as operations", () => {
  it("plans an in-place update as one replace of the rules found, naming them as the tools do", () => {
    const o = observed({ iptables: { save: ["*raw", line(A, 5300), line(A, 5301, "OUTPUT"), "COMMIT", ""].join("\n") } });
    const p = plan(o, { tag: A, spec: udp(53), persist: false, backend: "iptables-nft" });
    expect(p.live?.ops).toEqual([
      {
        op: "replace",
        family: "ipv4",
        backend: "iptables-nft",
        chain: "PREROUTING",
        rule: { spec: udp(53), tag: A },
        old: [
          { chain: "PREROUTING", text: line(A, 5300), index: 1 },
          { chain: "OUTPUT", text: line(A, 5301, "OUTPUT"), index: 1 },
        ],
      },
    ]);
  });

  it("merges the members' operations in order, and declares the nft table and chains once", () => {
    const o = observed();
    const plans = planAll(o, [
      { tag: A, spec: udp(53), persist: false, backend: "nftables" },
      { tag: B, spec: udp(54, "OUTPUT"), persist: false, backend: "nftables" },
    ]);
    const m = mergePlans(o, plans);
    expect(m.live?.ops.map((op) => [op.op, op.backend, op.family, "chain" in op ? op.chain : ""])).toEqual([
      ["add", "nftables", "ipv4", "PREROUTING"],
      ["add", "nftables", "ipv4", "OUTPUT"],
    ]);
    const text = renderLiveBatch(m.live!).split("\n");
    expect(text.filter((l) => l.startsWith("add table "))).toHaveLength(1);
    expect(text.filter((l) => l.startsWith("add chain "))).toHaveLength(2);
    expect(text.filter((l) => l.startsWith("add rule "))).toHaveLength(2);
  });

  it("marks the nft table's deletion as an operation of its own", () => {
    const o = observed({ nft: { tableJson: nftTableJson([{ chain: "prerouting", handle: 4, comment: A, port: 53 }]) } });
    const p = plan(o, { tag: A, persist: false, backend: "nftables" });
    expect(p.live?.ops.map((op) => op.op)).toEqual(["delete", "delete-table"]);
  });

  it("renders the batch into the apply script's arguments once", () => {
    const p = plan(observed(), { tag: A, spec: udp(53), persist: false, backend: "iptables-nft" });
    const inv = applyInvocation("ipv4", p);
    expect(inv.batch).toBe(`*raw\n${line(A, 53)}\nCOMMIT\n`);
    expect(inv.argv).toContain(inv.batch);
  });
});

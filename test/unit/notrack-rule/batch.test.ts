/** Batches: members planned against the host as the ones before them leave it, applied as one. */
import { describe, expect, it } from "vitest";
import { afterPlan } from "../../../provider/resources/notrack-rule/batch/evolve";
import { joinBatch, type Settled } from "../../../provider/common/batcher";
import { createHash } from "node:crypto";
import { mergePlans, modprobeGuard } from "../../../provider/resources/notrack-rule/batch/merge";
import { CORE_INSTALL_ERE } from "../../../provider/transport/conntrack-core";
import { MODPROBE_BLOCK_ERE } from "../../../provider/resources/notrack-rule/observe";
import { applyInvocation } from "../../../provider/resources/notrack-rule/apply";
import { renderLiveBatch } from "../../../provider/resources/notrack-rule/batch/render";
import { plan, type LiveBatch } from "../../../provider/resources/notrack-rule/plan";
import type { RuleSpec } from "../../../provider/resources/notrack-rule/syntax/rule";
import { file, observed, planAll, nftTableJson, rendered } from "./fixtures";

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
const save = (...lines: string[]) => ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...lines, "COMMIT", ""].join("\n");
const FOREIGN = "-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack";

describe("a batch on iptables", () => {
  it("appends every new rule in one restore batch, without a guard", () => {
    const o = observed({ iptables: { save: save(FOREIGN) } });
    const plans = planAll(o, [
      { tag: A, spec: udp(53), persist: false, backend: "iptables-nft" },
      { tag: B, spec: udp(54, "OUTPUT"), persist: false, backend: "iptables-nft" },
    ]);
    const m = mergePlans(o, plans);
    expect(rendered(m.live)).toEqual({ backend: "iptables-nft", text: `*raw\n${line(A, 53)}\n${line(B, 54, "OUTPUT")}\nCOMMIT\n` });
    expect(m.changes.map((c) => c.action)).toEqual(["add", "add"]);
  });

  it("puts an in-place update at the index the earlier members leave, under the observation's guard", () => {
    // A leaves PREROUTING for OUTPUT, so B, behind it, moves from position 3 to 2.
    const o = observed({ iptables: { save: save(FOREIGN, line(A, 53), line(B, 54)) } });
    const plans = planAll(o, [
      { tag: A, spec: udp(53, "OUTPUT"), persist: false, backend: "iptables-nft" },
      { tag: B, spec: udp(55), persist: false, backend: "iptables-nft" },
    ]);
    const m = mergePlans(o, plans);
    expect(rendered(m.live)?.text).toBe(
      [
        "*raw",
        line(A, 53).replace("-A ", "-D "),
        line(A, 53, "OUTPUT"),
        line(B, 54).replace("-A ", "-D "),
        line(B, 55).replace("-A PREROUTING", "-I PREROUTING 2"),
        "COMMIT",
        "",
      ].join("\n"),
    );
    expect(m.live?.guard).toEqual({ kind: "iptables", hashes: { PREROUTING: "h-pre", OUTPUT: "h-out" } });
  });

  it("writes the saved file once: expected as read, holding every member's line", () => {
    const o = observed({ iptables: { save: save() }, persist: { etcIptablesDir: true } });
    const plans = planAll(o, [
      { tag: A, spec: udp(53), persist: true, backend: "iptables-nft" },
      { tag: B, spec: udp(54), persist: true, backend: "iptables-nft" },
    ]);
    const m = mergePlans(o, plans);
    expect(m.file?.path).toBe("/etc/iptables/rules.v4");
    expect(m.file?.expectedSha256).toBe("absent");
    expect(m.file?.content?.split("\n").filter((l) => l.startsWith("-A "))).toEqual([line(A, 53), line(B, 54)]);
  });

  it("leaves a file alone that the batch saves into and takes out of again", () => {
    const before = save(FOREIGN);
    const o = observed({ persist: { etcIptablesDir: true, files: { "/etc/iptables/rules.v4": file(before) } } });
    const add = plan(o, { tag: A, spec: udp(53), persist: true, backend: "iptables-nft" });
    const o2 = afterPlan(o, { tag: A, spec: udp(53), persist: true, backend: "iptables-nft" }, add);
    const remove = plan(o2, { tag: A, persist: false, backend: "iptables-nft" });
    expect(mergePlans(o, [add, remove]).file).toBeUndefined();
  });
});

describe("a batch on nftables", () => {
  it("declares the table once for many new rules", () => {
    const o = observed({ nft: { tableJson: "" } });
    const plans = planAll(o, [
      { tag: A, spec: udp(53), persist: false, backend: "nftables" },
      { tag: B, spec: udp(54), persist: false, backend: "nftables" },
    ]);
    const lines = rendered(mergePlans(o, plans).live)!.text.split("\n");
    expect(lines.filter((l) => l.startsWith("add table"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("add chain"))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith("add rule"))).toHaveLength(2);
  });

  it("deletes the table once, with the last rule, when the batch removes them all", () => {
    const o = observed({
      nft: {
        tableJson: nftTableJson([
          { chain: "prerouting", handle: 4, comment: A, port: 53 },
          { chain: "prerouting", handle: 5, comment: B, port: 54 },
        ]),
      },
    });
    const plans = planAll(o, [
      { tag: A, persist: false, backend: "nftables" },
      { tag: B, persist: false, backend: "nftables" },
    ]);
    const m = mergePlans(o, plans);
    expect(rendered(m.live)?.text).toBe(
      [
        "delete rule inet pulumi_conntrack prerouting handle 4",
        "delete rule inet pulumi_conntrack prerouting handle 5",
        "delete table inet pulumi_conntrack",
        "",
      ].join("\n"),
    );
    expect(m.live?.guard).toEqual({ kind: "nft", hash: "h-nft" });
  });

  it("keeps the table when a rule added earlier in the batch is still in it", () => {
    const o = observed({ nft: { tableJson: nftTableJson([{ chain: "prerouting", handle: 4, comment: B, port: 54 }]) } });
    const added = { tag: A, spec: udp(53), persist: false, backend: "nftables" as const };
    const p1 = plan(o, added);
    const p2 = plan(afterPlan(o, added, p1), { tag: B, persist: false, backend: "nftables" });
    expect(rendered(p2.live)?.text).not.toMatch(/delete table/);
  });
});

describe("joinBatch", () => {
  const echo =
    (calls: string[][]) =>
    async (ms: string[]): Promise<Settled<string>[]> => {
      calls.push(ms);
      return ms.map((m) => (m.startsWith("bad") ? { ok: false, error: new Error(`refused ${m}`) } : { ok: true, value: m.toUpperCase() }));
    };

  it("runs calls issued together as one batch, each with its own result or error", async () => {
    const calls: string[][] = [];
    const run = echo(calls);
    const r = await Promise.allSettled(["a", "bad-b", "c"].map((m) => joinBatch("lane-1", "k", m, run)));
    expect(calls).toEqual([["a", "bad-b", "c"]]);
    expect(r.map((x) => (x.status === "fulfilled" ? x.value : (x.reason as Error).message))).toEqual(["A", "refused bad-b", "C"]);
  });

  it("keeps the order of calls that cannot share a batch, and batches what arrives meanwhile", async () => {
    const calls: string[][] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const run = async (ms: string[]): Promise<Settled<string>[]> => {
      calls.push(ms);
      // The first batch holds the lane until the test has issued more calls.
      if (calls.length === 1) await gate;
      return ms.map((m) => ({ ok: true, value: m }));
    };
    const first = [
      joinBatch("lane-2", "create", "a", run),
      joinBatch("lane-2", "delete", "x", run),
      joinBatch("lane-2", "create", "b", run),
    ];
    while (calls.length === 0) await new Promise((r) => setImmediate(r));
    const more = [joinBatch("lane-2", "create", "c", run), joinBatch("lane-2", "create", "d", run)];
    open();
    await Promise.all([...first, ...more]);
    expect(calls).toEqual([["a"], ["x"], ["b", "c", "d"]]);
  });

  it("fails every member when the whole batch fails", async () => {
    const run = async (): Promise<Settled<string>[]> => {
      throw new Error("host unreachable");
    };
    const r = await Promise.allSettled(["a", "b"].map((m) => joinBatch("lane-3", "k", m, run)));
    expect(r.every((x) => x.status === "rejected" && /unreachable/.test((x.reason as Error).message))).toBe(true);
  });
});

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

describe("the modprobe.d guard of a batch that puts rules in", () => {
  const CORE_ROW = "/etc/modprobe.d/wrap.conf\t1:install nf_conntrack /sbin/modprobe --ignore-install nf_conntrack";
  const HELPER_ROW = "/etc/modprobe.d/ftp.conf\t2:blacklist nf_conntrack_ftp";
  const digest = (rows: string) =>
    createHash("sha256")
      .update(rows === "" ? "" : `${rows}\n`)
      .digest("hex");

  it("carries the digest of the core's lines as read, and only those, for NOTRACK rules", () => {
    const o = observed({ modprobeRows: `${CORE_ROW}\n${HELPER_ROW}` });
    const m = mergePlans(o, planAll(o, [{ tag: A, spec: udp(53), persist: false, backend: "iptables-nft" }]));
    expect(m.modprobeGuard).toEqual({ ere: CORE_INSTALL_ERE, sha256: digest(CORE_ROW) });
    // No line: the digest of nothing, so a line written since is seen.
    const none = observed();
    expect(mergePlans(none, planAll(none, [{ tag: A, spec: udp(53), persist: false, backend: "nftables" }])).modprobeGuard).toEqual({
      ere: CORE_INSTALL_ERE,
      sha256: digest(""),
    });
  });

  it("covers the helpers' modules too when a helper rule goes in", () => {
    const o = observed({ modprobeRows: `${CORE_ROW}\n${HELPER_ROW}` });
    const live: LiveBatch = {
      backend: "iptables-nft",
      ops: [
        { op: "add", family: "ipv4", backend: "iptables-nft", chain: "PREROUTING", rule: { tag: A, spec: { ...udp(21), helper: "ftp" } } },
      ],
    };
    expect(modprobeGuard(o, live)).toEqual({ ere: MODPROBE_BLOCK_ERE, sha256: digest(`${CORE_ROW}\n${HELPER_ROW}`) });
  });

  it("has none when the batch only takes rules out", () => {
    const o = observed({ iptables: { save: save(line(A, 53)) } });
    const m = mergePlans(o, planAll(o, [{ tag: A, persist: false, backend: "iptables-nft" }]));
    expect(m.live?.ops.map((op) => op.op)).toEqual(["delete"]);
    expect(m.modprobeGuard).toBeUndefined();
  });

  it("passes the ERE and the digest as the apply script's 14th and 15th parameters, with no module to load as an empty 13th", () => {
    const o = observed();
    const m = mergePlans(o, planAll(o, [{ tag: A, spec: udp(53), persist: false, backend: "iptables-nft" }]));
    const params = applyInvocation("ipv4", m).argv.slice(4);
    expect(params).toHaveLength(15);
    expect(params.slice(12)).toEqual(["", CORE_INSTALL_ERE, digest("")]);
    // A plan without the guard (nothing put in) keeps its twelve.
    const d = observed({ iptables: { save: save(line(A, 53)) } });
    expect(
      applyInvocation("ipv4", mergePlans(d, planAll(d, [{ tag: A, persist: false, backend: "iptables-nft" }]))).argv.slice(4),
    ).toHaveLength(12);
  });
});

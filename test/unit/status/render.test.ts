import { describe, expect, it } from "vitest";
import { parseStatus } from "../../../provider/status/parse";
import { exitCodeOf, renderJson, renderTable, usageBar, type StatusRow } from "../../../provider/status/render";
import { statusOutput } from "./fixtures";

const busy = parseStatus(statusOutput({ table: "kernel=6.18\ncount=1600\nmax=2000\nbuckets=512\nconntrack_tool=/usr/sbin/conntrack" }));
const quiet = parseStatus(
  statusOutput({ table: "kernel=6.18\ncount=10\nmax=2000\nbuckets=512\nconntrack_tool=/usr/sbin/conntrack", ipt: {} }),
);
const rows: StatusRow[] = [
  { host: "a", ok: true, status: busy },
  { host: "b", ok: true, status: quiet },
  { host: "c", ok: false, error: "root@c:22: connect EHOSTUNREACH (after 2 attempts)\n  next: check the address" },
];

describe("renderer", () => {
  it("draws the usage bar", () => {
    expect(usageBar(0)).toBe(`[${".".repeat(20)}]`);
    expect(usageBar(0.5, 10)).toBe("[#####.....]");
    expect(usageBar(1.3, 4)).toBe("[####]");
    expect(usageBar(null, 3)).toBe("[???]");
  });

  it("prints one row per host, the unreachable one included, then notes", () => {
    const t = renderTable(rows, 0.75);
    const lines = t.split("\n");
    expect(lines[0]).toMatch(
      /^HOST\s+COUNT\/MAX\s+USAGE\s+BUCKETS\s+found\s+invalid\s+ins_fail\s+drop\s+early_drop\s+restart\s+clash\s+chain2long\s+HELPERS\s+NOTRACK\s+SOURCE$/,
    );
    expect(lines[1]).toMatch(
      /^a\s+1600\/2000\s+\[################\.\.\.\.\] 80\.0% !\s+512\s+20\s+400\s+2\s+6\s+42\s+8\s+7\s+1\s+CT:ftp,ftp\(2\)\s+2 rules 1205 pkts\s+conntrack -S$/,
    );
    expect(lines[2]).toMatch(/^b\s+10\/2000\s+\[\.{20}\] 0\.5%\s+512/);
    expect(lines[3]).toMatch(/^c\s+unreachable$/);
    expect(t).toContain("c: root@c:22: connect EHOSTUNREACH (after 2 attempts)\n");
    expect(t).not.toContain("next: check");
    expect(t).toContain("a: table 80.0% full, above --warn-at 75%");
    expect(t).toContain("b: no iptables raw table to read");
  });

  it("exit code: bit 1 above the threshold, bit 2 unreadable", () => {
    expect(exitCodeOf(rows, 0.75)).toBe(3);
    expect(exitCodeOf(rows, 0.85)).toBe(2);
    expect(exitCodeOf(rows.slice(0, 2), 0.75)).toBe(1);
    expect(exitCodeOf(rows.slice(1, 2), 0.75)).toBe(0);
    // Exactly at the threshold is not above it (the alert rule compares with >).
    expect(exitCodeOf(rows.slice(0, 1), 0.8)).toBe(0);
  });

  it("JSON carries every host, the verdicts and the exit code", () => {
    const j = JSON.parse(renderJson(rows, 0.75));
    expect(j.exitCode).toBe(3);
    expect(j.hosts.map((h: { host: string; ok: boolean; aboveWarnAt?: boolean }) => [h.host, h.ok, h.aboveWarnAt])).toEqual([
      ["a", true, true],
      ["b", true, false],
      ["c", false, undefined],
    ]);
    expect(j.hosts[0].source).toBe("conntrack -S");
    expect(j.hosts[0].notrack[0].packets).toBe(1200);
  });
});

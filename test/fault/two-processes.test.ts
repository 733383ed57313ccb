/**
 * Fault class: two provider processes on one host at once. Two node processes, each loading the
 * package's runtime by name (`provider-process.cjs`), each apply a batch of NotrackRules to ctlab13
 * at the same moment, then each destroys its batch at the same moment. Nothing is lost (every rule
 * exactly once live and once saved), the host lock is honoured (the traced apply steps of the two
 * processes never overlap), and the host ends byte for byte as before.
 */
import * as path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { isRoot, labRunning, loadLab, requireLab } from "../lab/inventory";
import { connectionOf, installShims, resetFaultHost, runLocal, expectEachTagged, snapshot, startTrace, traceLog } from "./faults";
import { notrackPrograms, type Props } from "./programs";

const HOST = "ctlab13";
const PER_PROCESS = 10;
const SCRIPT = path.join(__dirname, "provider-process.cjs");

afterAll(async () => {
  if (isRoot() && loadLab()) await resetFaultHost(HOST);
});

type Result = { ok: boolean; id?: string; outs?: Props; error?: string };

/** Runs one provider process over `items`; its results, one per item. */
async function providerProcess(op: "create" | "delete", items: unknown[]): Promise<Result[]> {
  const r = await runLocal(process.execPath, [SCRIPT], {
    cwd: path.join(__dirname, "..", ".."),
    input: JSON.stringify({ type: "NotrackRule", op, items }),
  });
  if (r.code !== 0) throw new Error(`provider process failed (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}

/**
 * Pairs of `begin TOOL PID` / `end TOOL PID` that overlap: an apply step that started while
 * another process's step had not ended.
 */
function overlaps(lines: string[]): string[] {
  const open = new Map<string, string>();
  const bad: string[] = [];
  for (const l of lines) {
    const [what, tool, pid] = l.split(" ");
    if (what === "begin") {
      if (open.size > 0) bad.push(`${tool} ${pid} began while ${[...open.values()].join(", ")} ran`);
      open.set(pid, `${tool} ${pid}`);
    } else open.delete(pid);
  }
  return bad;
}

describe.skipIf(!isRoot() || !labRunning())("two provider processes on one host", () => {
  beforeEach(async (ctx) => {
    requireLab(ctx);
    await resetFaultHost(HOST);
  });

  it.each([
    { backend: "iptables" as const, traced: ["iptables-nft-restore", "mv"] },
    { backend: "nftables" as const, traced: ["mv"] },
  ])(
    "NotrackRule ($backend): two processes x $traced.length steps traced; nothing lost, lock honoured, destroy restores",
    async ({ backend, traced }) => {
      const before = await snapshot(HOST);
      installShims(HOST, traced);
      startTrace(HOST);
      const a = notrackPrograms(HOST, backend, PER_PROCESS, 7600, `proc-a-${backend}`);
      const b = notrackPrograms(HOST, backend, PER_PROCESS, 7700, `proc-b-${backend}`);
      expect(a[0].connection).toEqual(connectionOf(HOST));

      const [ra, rb] = await Promise.all([providerProcess("create", a), providerProcess("create", b)]);
      for (const [i, r] of [...ra, ...rb].entries()) expect(r.ok, `rule ${i}: ${r.error}`).toBe(true);
      const names = [...a, ...b].map((p) => String(p.ruleName));
      expect(await expectEachTagged(HOST, names, { live: 1, saved: 1 }), "rules without exactly one live and one saved copy").toEqual({});
      const created = traceLog(HOST);
      expect(created.length, "the apply steps ran through the traced shims").toBeGreaterThan(0);
      expect(overlaps(created), "apply steps of the two processes overlapped: the host lock was not honoured").toEqual([]);

      startTrace(HOST);
      const [da, db] = await Promise.all([
        providerProcess(
          "delete",
          ra.map((r) => ({ id: r.id, outs: r.outs })),
        ),
        providerProcess(
          "delete",
          rb.map((r) => ({ id: r.id, outs: r.outs })),
        ),
      ]);
      for (const [i, r] of [...da, ...db].entries()) expect(r.ok, `delete ${i}: ${r.error}`).toBe(true);
      expect(overlaps(traceLog(HOST))).toEqual([]);
      expect(await snapshot(HOST)).toBe(before);
    },
  );
});

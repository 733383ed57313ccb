/**
 * The per-operation host snapshot (provider/transport/snapshot.ts) on a real host, ctlab16: the
 * reads of a refresh of three kinds cost one SSH channel per host once the process has learnt the
 * fleet's observations; within one operation a read answers what the host showed when the operation
 * first looked at it; a change made through the process is seen at once; a new operation (reset)
 * sees a hand edit. The snapshot is turned on here: the lab tier's setup turns it off for the
 * tests that call the handlers directly (test/support/in-process.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { handler } from "../../provider/runtime";
import { exec, execStats, hostEpoch, resetSnapshots } from "../../provider/transport/exec";
import { parseConnection } from "../../provider/status/collect";
import { snapshotSettings } from "../../provider/transport/snapshot";
import { closeAll } from "../../provider/transport/pool";
import { hostSh, isRoot, labConnection, labRunning, loadLab, resetHost } from "./inventory";

const H = "ctlab16";
const UDP = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout";
const PROBE = "/etc/ctk-follow-probe";
type Props = Record<string, unknown>;

async function checked(type: string, news: Props): Promise<Props> {
  const c = await handler(type).check({}, news);
  expect(c.failures).toBeUndefined();
  return c.inputs as Props;
}

const made: Record<string, { id: string; outs: Props }> = {};

/** Reads the three resources as a refresh does, all at once; their outputs by type. */
async function readAll(): Promise<Record<string, Props>> {
  const out: Record<string, Props> = {};
  await Promise.all(
    Object.entries(made).map(async ([type, m]) => {
      const r = await handler(type).read(m.id, m.outs);
      out[type] = r.props as Props;
    }),
  );
  return out;
}

/** Remote channels opened by `fn` (execStats counts what went to a host, never a kept answer). */
async function channelsOf<T>(fn: () => Promise<T>): Promise<{ value: T; channels: number }> {
  const before = execStats.channels;
  const value = await fn();
  return { value, channels: execStats.channels - before };
}

describe.skipIf(!isRoot() || !labRunning())("host snapshot: one observation of a host per engine operation", () => {
  beforeAll(async () => {
    await resetHost(H);
    snapshotSettings.enabled = true;
    const conn = labConnection(H);
    for (const [type, inputs] of [
      ["ConntrackHelperSetting", { connection: conn, enabled: false }],
      [
        "NotrackRule",
        {
          connection: conn,
          backend: "nftables",
          ruleName: "dns-in",
          chain: "PREROUTING",
          protocol: "udp",
          destinationPort: 53,
          persist: false,
        },
      ],
      ["ConntrackTableSize", { connection: conn, timeouts: { udp: 41 } }],
    ] as const) {
      const { id, outs } = await handler(type).create(await checked(type, inputs));
      made[type] = { id, outs: outs as Props };
    }
  }, 120_000);

  afterAll(async () => {
    snapshotSettings.enabled = false;
    for (const [type, m] of Object.entries(made).reverse()) await handler(type).delete(m.id, m.outs);
    await closeAll();
    if (isRoot() && loadLab()) await resetHost(H);
  });

  it("a host's reads of three kinds take one channel once the observations are learnt", async () => {
    resetSnapshots();
    const first = await channelsOf(readAll);
    // Nothing kept yet: each kind's observation is run, all three at once.
    expect(first.channels).toBeGreaterThanOrEqual(1);
    resetSnapshots();
    const second = await channelsOf(async () => {
      // The first read of the "next operation" brings the other two observations along.
      const one = await handler("ConntrackHelperSetting").read(made.ConntrackHelperSetting.id, made.ConntrackHelperSetting.outs);
      const rest = await readAll();
      return { one, rest };
    });
    expect(second.channels).toBe(1);
    expect(second.value.rest).toEqual(first.value);
  });

  it("within one operation a read answers what the host first showed; a new operation sees the hand edit", async () => {
    resetSnapshots();
    const before = await readAll();
    expect(before.ConntrackTableSize.timeouts).toMatchObject({ udp: 41 });
    await hostSh(H, `echo 77 > ${UDP}`);
    const same = await channelsOf(readAll);
    expect(same.channels).toBe(0);
    expect(same.value.ConntrackTableSize.timeouts).toMatchObject({ udp: 41 });
    resetSnapshots();
    const fresh = await readAll();
    expect(fresh.ConntrackTableSize.timeouts).toMatchObject({ udp: 77 });
    await hostSh(H, `echo 41 > ${UDP}`);
  });

  it("a change made through this process is seen by the next read at once", async () => {
    resetSnapshots();
    await readAll();
    const m = made.ConntrackTableSize;
    const news = await checked("ConntrackTableSize", { connection: labConnection(H), timeouts: { udp: 43 } });
    const u = await handler("ConntrackTableSize").update(m.id, m.outs, news);
    made.ConntrackTableSize = { id: m.id, outs: u.outs as Props };
    const after = await readAll();
    expect(after.ConntrackTableSize.timeouts).toMatchObject({ udp: 43 });
    expect((await hostSh(H, `cat ${UDP}`)).trim()).toBe("43");
  });

  it("a change brings along the reads its login has not run on the host yet: one channel, and they read what it left", async () => {
    resetSnapshots();
    const root = parseConnection(labConnection(H) as never);
    // Another identity to the same machine: nothing has run through it in this "operation".
    const other = parseConnection(labConnection(H, { sudo: true }) as never);
    const read = ["sh", "-c", `cat ${PROBE} 2>/dev/null || echo none`];
    try {
      expect((await exec(root, read, { observation: "read" })).stdout).toBe("none\n");
      const asked = hostEpoch(other);
      const both = await channelsOf(() =>
        Promise.all([
          exec(other, ["sh", "-c", `cat > ${PROBE}`], { stdin: "written\n" }),
          // A sibling's plan, asked for while the change runs.
          exec(other, read, { observation: "plan", since: asked }),
        ]),
      );
      expect(both.value.map((r) => r.exitCode)).toEqual([0, 0]);
      expect(both.value[1].stdout).toBe("written\n");
      expect(both.channels).toBe(1);
      // No other change ran beside it: what followed it is kept for the login's reads.
      const again = await channelsOf(() => exec(other, read, { observation: "read" }));
      expect([again.channels, again.value.stdout]).toEqual([0, "written\n"]);

      // A change too long to be one argument of the driver runs alone, and the reads after it.
      resetSnapshots();
      const commands = execStats.commands;
      const long = await channelsOf(() =>
        Promise.all([
          exec(other, ["sh", "-c", `cat > ${PROBE}; : "$1"`, "sh", "x".repeat(100 * 1024)], { stdin: "long\n" }),
          exec(other, read, { observation: "plan", since: 0 }),
        ]),
      );
      expect(long.value.map((r) => r.stdout)).toEqual(["", "long\n"]);
      // Each on its own channel: the change, the read asked for, and what else this process learnt.
      expect(long.channels).toBe(execStats.commands - commands);
      expect(long.channels).toBeGreaterThanOrEqual(2);

      // A change given more than the default time (an initramfs regenerated) brings nothing along.
      resetSnapshots();
      const before = execStats.commands;
      const slow = await channelsOf(() => exec(other, ["sh", "-c", `cat > ${PROBE}`], { stdin: "slow\n", timeoutMs: 300_000 }));
      expect([slow.value.exitCode, slow.channels, execStats.commands - before]).toEqual([0, 1, 1]);
    } finally {
      await hostSh(H, `rm -f ${PROBE}`);
    }
  });

  it("a change through another login to the same host drops what this login kept", async () => {
    resetSnapshots();
    expect((await readAll()).ConntrackTableSize.timeouts).toMatchObject({ udp: 43 });
    // The non-root login with sudo: another connection identity, the same machine.
    const other = parseConnection(labConnection(H, { sudo: true }) as never);
    const r = await exec(other, ["sh", "-c", `echo 45 > ${UDP}`]);
    expect(r.exitCode).toBe(0);
    expect((await readAll()).ConntrackTableSize.timeouts).toMatchObject({ udp: 45 });
  });
});

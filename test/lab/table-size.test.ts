/**
 * ConntrackTableSize on real hosts that are exactly the container case: each lab host is a network
 * namespace of this machine's 6.x kernel (nf_conntrack built in), where nf_conntrack_max is 0444
 * and the hash size is the whole machine's. Covered: the refusal of max/buckets with its way out
 * (timeouts, which each namespace has its own of), read with drift, repair, delete restoring the
 * previous values, and an apply that fails half-way leaving the host as it was, driven through the
 * dynamic-provider handlers on ctlab15; then examples/table-size through the engine harness on
 * ctlab15 and ctlab16. Host state asserted with `lab.sh exec`.
 */
import * as path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { engineFor, REPO, stackDir } from "../engine/harness";
import { engineOnResetHosts } from "../engine/lifecycle";
import { handler } from "../../provider/runtime";
import { apply } from "../../provider/resources/table-size/apply";
import { MANAGED_PATHS } from "../../provider/resources/table-size/managed-files";
import { parseConnection } from "../../provider/status/collect";
import { closeAll } from "../../provider/transport/pool";
import { hostSh, isRoot, labConnection, loadLab, requireLab, resetHost } from "./inventory";

const TYPE = "ConntrackTableSize";
const H = "ctlab15";
const UDP = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout";
const EST = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established";
const HASHSIZE = "/sys/module/nf_conntrack/parameters/hashsize";
/** The host-side record of the values before the first change (common/previous-record.ts). */
const RECORD = "/etc/modprobe.d/.pulumi-conntrack-table.conf.pulumi-conntrack-previous";

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) await resetHost(H);
});

beforeEach(async () => {
  requireLab();
  await resetHost(H);
  // `lab.sh reset` restores the /etc paths it knows; a test that failed half-way may have left one
  // of this resource's paths (e.g. the directory the rollback test puts at the udev rule's path).
  await hostSh(H, `rm -rf ${Object.values(MANAGED_PATHS).join(" ")} ${RECORD}`);
});

async function check(news: Record<string, unknown>) {
  const c = await handler(TYPE).check({}, news);
  expect(c.failures).toBeUndefined();
  return c.inputs;
}

const read = async (path: string) => (await hostSh(H, `cat ${path}`)).trim();
const exists = async (path: string) => (await hostSh(H, `[ -e ${path} ] && echo yes || echo no`)).trim() === "yes";

describe("ConntrackTableSize in a network namespace (the container case)", () => {
  it("refuses max and buckets with the way out, and changes nothing (not even the machine-wide hash size)", async () => {
    const before = { max: await read("/proc/sys/net/netfilter/nf_conntrack_max"), hash: await read(HASHSIZE) };
    for (const ask of [{ max: 300000 }, { maxPerCore: 32768, min: 131072 }, { buckets: 131072 }]) {
      const inputs = await check({ connection: labConnection(H), ...ask });
      const err = await handler(TYPE)
        .create(inputs)
        .then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      expect(err?.name).toBe("UnsupportedError");
      expect(err?.message).toMatch(/global to the host and cannot be set from it/);
      expect(err?.message).toMatch(/next: connect to the host itself .* keep only timeouts/);
    }
    expect(await read("/proc/sys/net/netfilter/nf_conntrack_max")).toBe(before.max);
    expect(await read(HASHSIZE)).toBe(before.hash);
    for (const p of Object.values(MANAGED_PATHS)) expect(await exists(p)).toBe(false);
  });

  it("timeouts only: set in this namespace, persisted in sysctl.d, read with drift, repaired, restored on delete", async () => {
    const udp0 = await read(UDP);
    const est0 = await read(EST);
    const inputs = await check({ connection: labConnection(H), timeouts: { udp: 61, tcpEstablished: 86400 } });
    const { id, outs } = await handler(TYPE).create(inputs);
    expect(id).toMatch(/^nf_conntrack_table@10\.213\.0\.\d+:22$/);
    expect(outs).toMatchObject({
      namespace: expect.stringMatching(/^(other|unknown)$/),
      nfConntrack: "builtin",
      targetMax: null,
      previousMax: null,
      previousTimeouts: { nf_conntrack_udp_timeout: Number(udp0), nf_conntrack_tcp_timeout_established: Number(est0) },
      persistedFiles: [MANAGED_PATHS.sysctl],
      stateVersion: 1,
    });
    expect(outs.effectiveTimeouts).toMatchObject({ udp: 61, tcpEstablished: 86400 });
    expect(typeof outs.countAtOperation).toBe("number");
    expect(outs.memoryEstimateBytes).toBe(outs.effectiveMax * 320 + outs.effectiveBuckets * 8);
    expect(outs.actions).toEqual([
      `set net.netfilter.nf_conntrack_tcp_timeout_established ${est0} -> 86400`,
      `set net.netfilter.nf_conntrack_udp_timeout ${udp0} -> 61`,
      `wrote ${MANAGED_PATHS.sysctl} (persist)`,
    ]);
    expect(await read(UDP)).toBe("61");
    const file = await hostSh(H, `cat ${MANAGED_PATHS.sysctl}`);
    expect(file).toContain("net.netfilter.nf_conntrack_udp_timeout = 61\n");
    expect(file).toContain("net.netfilter.nf_conntrack_tcp_timeout_established = 86400\n");
    // Built in: no modprobe.d option and no udev rule are needed.
    expect(await exists(MANAGED_PATHS.udev)).toBe(false);

    // Drift: someone sets the udp timeout by hand. Refresh shows it as the input; the recorded
    // previous value stays what the host had before create.
    await hostSh(H, `echo 45 > ${UDP}`);
    const r = await handler(TYPE).read(id, outs);
    expect(r.inputs!.timeouts).toMatchObject({ udp: 45, tcpEstablished: 86400 });
    expect(r.props!.previousTimeouts).toEqual(outs.previousTimeouts);
    const d = await handler(TYPE).diff(id, r.props!, inputs);
    expect(d.changes).toBe(true);
    const u = await handler(TYPE).update(id, r.props!, inputs);
    expect(u.outs.actions).toEqual(["set net.netfilter.nf_conntrack_udp_timeout 45 -> 61"]);
    expect(u.outs.previousTimeouts).toEqual(outs.previousTimeouts);
    expect(await read(UDP)).toBe("61");

    await handler(TYPE).delete(id, u.outs);
    expect(await read(UDP)).toBe(udp0);
    expect(await read(EST)).toBe(est0);
    expect(await exists(MANAGED_PATHS.sysctl)).toBe(false);
  });

  // Issue 11: a create whose response was lost after it changed the host. The retry (the next
  // `pulumi up`) must record what the host had before the first attempt, not that attempt's own
  // values, or delete "puts back" the changed ones. Closed by the host-side record
  // (common/previous-record.ts), as for ConntrackHelperSetting.
  it("a create whose response was lost: the retry records the host before the first attempt, and delete puts that back", async () => {
    const udp0 = await read(UDP);
    const est0 = await read(EST);
    const HAND_MADE = "# ops: timeouts are tuned here (OPS-7)\n";
    await hostSh(H, `printf '%s' '${HAND_MADE}' > ${MANAGED_PATHS.sysctl}`);
    const inputs = await check({ connection: labConnection(H), timeouts: { udp: 62, tcpEstablished: 86401 } });

    // The first attempt changes the host; its result never reaches the state.
    await handler(TYPE).create(inputs);
    expect(await read(UDP)).toBe("62");

    const retry = await handler(TYPE).create(inputs);
    expect(retry.outs.actions, "precondition: the host already shows the program").toEqual([]);
    expect.soft(retry.outs.previousTimeouts).toEqual({
      nf_conntrack_udp_timeout: Number(udp0),
      nf_conntrack_tcp_timeout_established: Number(est0),
    });
    expect.soft(retry.outs.previousFiles).toEqual({ sysctl: HAND_MADE, modprobe: null, udev: null });
    expect.soft(retry.outs.notes).toContainEqual(expect.stringContaining(RECORD));

    await handler(TYPE).delete(retry.id, retry.outs);
    expect(await read(UDP)).toBe(udp0);
    expect(await read(EST)).toBe(est0);
    expect(await hostSh(H, `cat ${MANAGED_PATHS.sysctl}`)).toBe(HAND_MADE);
    expect(await exists(RECORD), "delete removes the record").toBe(false);
  });

  it("a create that changes nothing writes no record; delete after a completed create removes it", async () => {
    const udp0 = await read(UDP);
    const inputs = await check({ connection: labConnection(H), timeouts: { udp: 63 } });
    const made = await handler(TYPE).create(inputs);
    expect(await exists(RECORD), "the create's apply wrote the record before its first change").toBe(true);
    await handler(TYPE).delete(made.id, made.outs);
    expect(await read(UDP)).toBe(udp0);
    expect(await exists(RECORD)).toBe(false);
    expect(await exists(MANAGED_PATHS.sysctl)).toBe(false);

    const same = await check({ connection: labConnection(H), timeouts: { udp: Number(udp0) }, persist: false });
    const nothing = await handler(TYPE).create(same);
    expect(nothing.outs.actions).toEqual([]);
    expect(await exists(RECORD)).toBe(false);
    await handler(TYPE).delete(nothing.id, nothing.outs);
  });

  it("an apply that fails half-way also puts back the record it made or replaced", async () => {
    const udp0 = await read(UDP);
    const conn = parseConnection(labConnection(H) as never);
    const failing = [
      { kind: "set-sysctl" as const, key: "nf_conntrack_udp_timeout", from: Number(udp0), to: 79 },
      { kind: "set-sysctl" as const, key: "nf_conntrack_max", from: 1, to: 300002 },
    ];
    const made = await apply(conn, failing, { path: RECORD, action: "make" }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(made?.message).toMatch(/every change of this run was put back/);
    expect(await exists(RECORD), "the record this run made is gone").toBe(false);
    expect(await read(UDP)).toBe(udp0);

    await hostSh(H, `printf 'stale\\n' > ${RECORD}`);
    const replaced = await apply(conn, failing, { path: RECORD, action: "replace" }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(replaced?.message).toMatch(/every change of this run was put back/);
    expect(await hostSh(H, `cat ${RECORD}`), "the record this run replaced is back").toBe("stale\n");
    expect(await read(UDP)).toBe(udp0);
  });

  it("an apply that fails half-way puts back what it had changed (values and files)", async () => {
    const udp0 = await read(UDP);
    const conn = parseConnection(labConnection(H) as never);
    // A value that cannot be written here (0444): the value written before it is rolled back.
    const err = await apply(conn, [
      { kind: "set-sysctl", key: "nf_conntrack_udp_timeout", from: Number(udp0), to: 77 },
      { kind: "set-sysctl", key: "nf_conntrack_max", from: 1, to: 300001 },
    ]).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /cannot write 300001 to \/proc\/sys\/net\/netfilter\/nf_conntrack_max \(every change of this run was put back\)/,
    );
    expect(await read(UDP)).toBe(udp0);

    // A file step that fails (a directory where the udev rule goes) after a value and another file
    // were written: both are put back.
    await hostSh(H, `mkdir -p ${MANAGED_PATHS.udev} && printf 'old\\n' > ${MANAGED_PATHS.sysctl}`);
    const err2 = await apply(conn, [
      { kind: "set-sysctl", key: "nf_conntrack_udp_timeout", from: Number(udp0), to: 78 },
      { kind: "write-file", role: "sysctl", path: MANAGED_PATHS.sysctl, content: "# new\n", why: "test" },
      { kind: "remove-file", role: "udev", path: MANAGED_PATHS.udev, why: "test" },
    ]).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err2?.message).toMatch(/cannot copy .*90-pulumi-conntrack-table.rules \(every change of this run was put back\)/);
    expect(await read(UDP)).toBe(udp0);
    expect(await hostSh(H, `cat ${MANAGED_PATHS.sysctl}`)).toBe("old\n");
    await hostSh(H, `rmdir ${MANAGED_PATHS.udev}; rm -f ${MANAGED_PATHS.sysctl}`);
  });
});

describe.skipIf(!isRoot() || !loadLab())("examples/table-size through the engine (lab)", () => {
  const HOSTS = ["ctlab15", "ctlab16"] as const;
  const config = (extra: Record<string, unknown> = {}) => {
    const lab = loadLab()!;
    return {
      privateKeyFile: lab.privateKeyPath,
      knownHostsFile: lab.knownHostsPath,
      hosts: HOSTS.map((h) => ({ name: h, address: lab.hosts.find((x) => x.name === h)!.address })),
      ...extra,
    };
  };
  const engine = engineOnResetHosts(HOSTS, () =>
    engineFor(path.join(REPO, "examples", "table-size"), stackDir("table-size"), config({ timeoutsOnly: true }), "lab"),
  );

  it("kube-proxy sizing on a namespace host: the refusal, with its way out named", async () => {
    const e = engine();
    e.setConfig(config({ timeoutsOnly: false }));
    const r = await e.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toMatch(/global to the host and cannot be set from it[\s\S]*keep only timeouts/);
    expect((await hostSh("ctlab15", "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")).trim()).not.toBe("86400");
  });

  it("timeoutsOnly (the lab stack): up sets the timeouts and prints status before and after; destroy puts them back", async () => {
    const e = engine();
    const est0 = (await hostSh("ctlab16", "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")).trim();
    e.setConfig(config({ timeoutsOnly: true }));
    const r = await e.up();
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    const outs = JSON.stringify(r.outputs);
    for (const h of HOSTS) {
      expect(outs).toMatch(
        new RegExp(`"${h}":"\\d+/\\d+ \\(\\d+\\.\\d%\\), buckets \\d+, drop \\d+, early_drop \\d+, insert_failed \\d+ \\[conntrack -S\\]"`),
      );
      expect((await hostSh(h, "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")).trim()).toBe("86400");
      expect((await hostSh(h, "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait")).trim()).toBe("3600");
    }
    expect(outs).toContain('"before"');
    expect(outs).toContain('"after"');
    const d = await e.destroy();
    expect(d.ok).toBe(true);
    expect((await hostSh("ctlab16", "cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")).trim()).toBe(est0);
    expect((await hostSh("ctlab16", `[ -e ${MANAGED_PATHS.sysctl} ] && echo yes || echo no`)).trim()).toBe("no");
  });
});

/**
 * ConntrackTableSize on a real modular kernel in its initial network namespace (Debian bullseye,
 * 5.10, nf_conntrack a module): kube-proxy sizing set live (max and the hash size through sysfs)
 * and read back, the persisted files, the order problem (nf_conntrack loaded after boot: the
 * modprobe.d option gives the hash size, the udev rule re-applies the sysctl.d max), refusals of a
 * hash size the kernel would round and of a table too large for the guest's RAM, and delete
 * restoring the previous values. Driven through the dynamic-provider handlers; guest state
 * asserted with the OpenSSH client (`vmExec`). Leaves the VM as found: nf_conntrack unloaded, no
 * file of this resource.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { handler } from "../../provider/runtime";
import { MANAGED_PATHS } from "../../provider/resources/table-size/managed-files";
import { closeAll } from "../../provider/transport/pool";
import { loadVm, vmExec, vmConnection } from "./inventory";

const TYPE = "ConntrackTableSize";
const MAX = "/proc/sys/net/netfilter/nf_conntrack_max";
const HASH = "/sys/module/nf_conntrack/parameters/hashsize";
/** The host-side record of the values before the first change (common/previous-record.ts). */
const RECORD = "/etc/modprobe.d/.pulumi-conntrack-table.conf.pulumi-conntrack-previous";

afterAll(() => closeAll());
afterEach(async () => {
  if (!loadVm()) return;
  await vmExec([
    "sh",
    "-c",
    `rm -f ${Object.values(MANAGED_PATHS).join(" ")} ${RECORD}; udevadm control --reload 2>/dev/null; modprobe -r nf_conntrack 2>/dev/null; true`,
  ]);
});

async function run(cmd: string): Promise<string> {
  const r = await vmExec(["sh", "-c", cmd]);
  if (r.code !== 0) throw new Error(`${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

async function program(extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const connection = vmConnection();
  const c = await handler(TYPE).check({}, { connection, ...extra });
  expect(c.failures).toBeUndefined();
  return c.inputs;
}

/** Waits (bounded) for a guest file to read `want`: the udev rule runs asynchronously after the module loads. */
async function eventually(path: string, want: string): Promise<string> {
  let got = "";
  for (let i = 0; i < 40; i++) {
    got = await run(`cat ${path} 2>/dev/null || true`);
    if (got === want) return got;
    await new Promise((r) => setTimeout(r, 500));
  }
  return got;
}

describe("ConntrackTableSize on a modular 5.10 kernel (initial network namespace)", () => {
  it("kube-proxy sizing: set live, persisted, right again after the module reloads; delete restores", async () => {
    await run("modprobe nf_conntrack");
    const max0 = Number(await run(`cat ${MAX}`));
    const hash0 = Number(await run(`cat ${HASH}`));
    const cpus = Number(await run("getconf _NPROCESSORS_ONLN"));
    const wantMax = Math.max(32768 * cpus, 131072);
    const wantBuckets = Math.ceil(wantMax / 4 / 512) * 512;

    const inputs = await program({ maxPerCore: 32768, min: 131072 });
    const { id, outs } = await handler(TYPE).create(inputs);
    expect(outs).toMatchObject({
      namespace: "initial",
      nfConntrack: "loaded",
      cpus,
      targetMax: wantMax,
      effectiveMax: wantMax,
      effectiveBuckets: Math.max(wantBuckets, hash0),
      previousMax: max0,
      memoryEstimateBytes: wantMax * 320 + Math.max(wantBuckets, hash0) * 8,
    });
    expect(await run(`cat ${MAX}`)).toBe(String(wantMax));
    expect(Number(await run(`cat ${HASH}`))).toBe(Math.max(wantBuckets, hash0));
    expect(await run(`cat ${MANAGED_PATHS.sysctl}`)).toContain(`net.netfilter.nf_conntrack_max = ${wantMax}`);
    expect(await run(`cat ${MANAGED_PATHS.udev}`)).toContain('KERNEL=="nf_conntrack", RUN+="');

    // The order problem: nf_conntrack loaded again after boot. The hash size comes from the
    // modprobe.d option (when this resource raised it), the max from sysctl.d through the udev rule.
    await run("modprobe -r nf_conntrack && modprobe nf_conntrack");
    expect(await eventually(MAX, String(wantMax))).toBe(String(wantMax));
    if (wantBuckets > hash0) expect(await run(`cat ${HASH}`)).toBe(String(wantBuckets));

    // Refresh finds nothing drifted.
    const r = await handler(TYPE).read(id, outs);
    expect(r.inputs).toMatchObject({ maxPerCore: 32768, min: 131072, persist: true });

    await handler(TYPE).delete(id, outs);
    expect(await run(`cat ${MAX}`)).toBe(String(max0));
    for (const p of Object.values(MANAGED_PATHS)) expect(await run(`[ -e ${p} ] && echo yes || echo no`)).toBe("no");
  });

  // Issue 11: a create whose response was lost after it changed max and the hash size. The retry
  // finds the host already as asked; it must still record the values from before the first attempt
  // (read from the host-side record), so that delete puts them back.
  it("a create whose response was lost: the retry records max and the hash size from before the first attempt; delete restores them", async () => {
    await run("modprobe nf_conntrack");
    const max0 = Number(await run(`cat ${MAX}`));
    const hash0 = Number(await run(`cat ${HASH}`));
    const inputs = await program({ max: max0 * 2, buckets: hash0 * 2 });

    await handler(TYPE).create(inputs); // its result never reaches the state
    expect(await run(`cat ${MAX}`)).toBe(String(max0 * 2));

    const retry = await handler(TYPE).create(inputs);
    expect(retry.outs.actions, "precondition: the host already shows the program").toEqual([]);
    expect(retry.outs).toMatchObject({ previousMax: max0, previousBuckets: hash0 });
    expect(retry.outs.notes).toContainEqual(expect.stringContaining(RECORD));

    await handler(TYPE).delete(retry.id, retry.outs);
    expect(await run(`cat ${MAX}`)).toBe(String(max0));
    expect(await run(`cat ${HASH}`)).toBe(String(hash0));
    expect(await run(`ls -a /etc/modprobe.d /etc/sysctl.d /etc/udev/rules.d | grep pulumi-conntrack || true`)).toBe("");
  });

  it("refuses a hash size the kernel would round, and a table too large for the guest's RAM", async () => {
    await run("modprobe nf_conntrack");
    const max0 = await run(`cat ${MAX}`);
    const rounded = await handler(TYPE)
      .create(await program({ max: 200000, buckets: 1000 }))
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(rounded?.message).toMatch(/would show 1024/);
    const large = await handler(TYPE)
      .create(await program({ max: 50_000_000 }))
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(large?.message).toMatch(/more than 10% of this host's .* RAM[\s\S]*allowLargeTable/);
    expect(await run(`cat ${MAX}`)).toBe(max0);
  });
});

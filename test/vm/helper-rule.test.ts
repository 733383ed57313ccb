/**
 * ConntrackHelperRule on a real modular kernel (Debian bullseye, 5.10): the create loads the helper's
 * module (`nf_conntrack_ftp`) itself and says so in its outputs, for iptables and native nftables; a
 * host whose modprobe.d keeps the module out (`install ... /bin/false`, or a bare `blacklist`, which
 * keeps out the kernel's own request by alias) is refused before anything changes, naming the file
 * and line and the way out. Driven through the dynamic-provider handlers; guest state asserted with
 * the OpenSSH client (`vmExec`). Each test leaves the helper unloaded, the rulesets empty and
 * /etc/modprobe.d as it found it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConflictError } from "../../provider/errors";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { loadVm, requireVm, vmConnection, vmExec } from "./inventory";

const h = () => handler("ConntrackHelperRule");
const OFF = "/etc/modprobe.d/helper-off.conf";
const FTP = { ruleName: "ftp", helper: "ftp", protocol: "tcp", destinationPort: 21, persist: false };

/** Every loaded module (`/sys/module/<m>/initstate`), one per line, sorted. */
const LOADED = "ls -d /sys/module/*/initstate | cut -d / -f 4 | sort";
/** The modules loaded before this file ran: what each test leaves loaded again (the reboot test expects nf_conntrack out). */
let modulesBefore = "";

beforeAll(async () => {
  if (loadVm()) modulesBefore = (await vmExec(["sh", "-c", LOADED])).stdout;
});
afterAll(() => closeAll());
afterEach(async () => {
  if (!loadVm()) return;
  await vmExec([
    "sh",
    "-c",
    `rm -f ${OFF} /etc/modprobe.d/pulumi-conntrack-blacklist.conf; iptables-legacy -t raw -F 2>/dev/null; iptables-nft -t raw -F 2>/dev/null; nft delete table inet pulumi_conntrack 2>/dev/null; nft delete table ip raw 2>/dev/null; nft delete table ip6 raw 2>/dev/null; true`,
  ]);
  // Unload what the tests loaded (the helper, conntrack, the table modules), holders first: a few
  // rounds, since a module goes only once nothing holds it.
  for (let i = 0; i < 4; i++) {
    const now = (await vmExec(["sh", "-c", LOADED])).stdout;
    const extra = now.split("\n").filter((m) => m && !modulesBefore.split("\n").includes(m));
    if (extra.length === 0) break;
    await vmExec(["sh", "-c", `for m in ${extra.join(" ")}; do modprobe -r "$m" 2>/dev/null; done; true`]);
  }
});

async function run(cmd: string): Promise<string> {
  const r = await vmExec(["sh", "-c", cmd]);
  if (r.code !== 0) throw new Error(`${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function program(extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const c = await h().check({}, { connection: vmConnection(), ...FTP, ...extra });
  expect(c.failures).toBeUndefined();
  return c.inputs;
}

async function ftpLoaded(): Promise<boolean> {
  return (await vmExec(["test", "-e", "/sys/module/nf_conntrack_ftp/initstate"])).code === 0;
}

/** The raw table as the host's iptables shows it, and this package's nft table. */
async function rulesets(): Promise<string> {
  return run("iptables-save -t raw 2>/dev/null | grep '^-A' ; nft list table inet pulumi_conntrack 2>/dev/null; true");
}

describe("ConntrackHelperRule on Debian 5.10 (helpers as modules)", () => {
  it("iptables: the create loads nf_conntrack_ftp, then writes -j CT --helper ftp", async () => {
    requireVm();
    await run("modprobe -r nf_conntrack_ftp 2>/dev/null; true");
    expect(await ftpLoaded()).toBe(false);
    const news = await program({ backend: "iptables" });
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ kernelHelper: "ftp", helperModule: { name: "nf_conntrack_ftp", state: "loaded" } });
    expect(await ftpLoaded()).toBe(true);
    expect(await run("iptables-save -t raw | grep -- '--helper'")).toContain(
      `-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "${id}" -j CT --helper ftp`,
    );
    // Read sees the module as loaded now; delete takes the rule out (the module stays: other rules
    // or connections may use it, and unloading is a ModuleBlacklist's business).
    const r = await h().read(id, { ...news, ...outs });
    expect((r.props as Record<string, unknown>).helperModule).toEqual({ name: "nf_conntrack_ftp", state: "loaded" });
    await h().delete(id, { ...news, ...outs });
    expect(await run("iptables-save -t raw | grep -c -- '--helper' || true")).toBe("0\n");
  });

  it("nftables: the create loads nf_conntrack_ftp and declares the ct helper object", async (ctx) => {
    requireVm();
    if ((await vmExec(["sh", "-c", "command -v nft"])).code !== 0) ctx.skip("the guest has no nft");
    const news = await program({ backend: "nftables" });
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ resolvedBackend: "nftables", helperModule: { name: "nf_conntrack_ftp", state: "loaded" } });
    expect(await ftpLoaded()).toBe(true);
    const listing = await run("nft list table inet pulumi_conntrack");
    expect(listing).toMatch(/ct helper ftp-tcp \{\s+type "ftp" protocol tcp/);
    expect(listing.replace(/counter packets \d+ bytes \d+/g, "counter")).toContain(
      `tcp dport 21 counter ct helper set "ftp-tcp" comment "${id}"`,
    );
    await h().delete(id, { ...news, ...outs });
    expect((await vmExec(["nft", "list", "table", "inet", "pulumi_conntrack"])).code).not.toBe(0);
  });

  it.each([
    ["install nf_conntrack_ftp /bin/false", "an install line"],
    ["blacklist nf_conntrack_ftp", "a bare blacklist line"],
  ])("refuses when modprobe.d keeps the module out (%s: %s), changing nothing", async (line) => {
    requireVm();
    await run(`printf '%s\\n' '${line}' > ${OFF}`);
    const before = await rulesets();
    const err = await h()
      .create(await program({ backend: "iptables" }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toContain(`nf_conntrack_ftp is kept out on this host by \`${line}\` in ${OFF}:1`);
    expect((err as ConflictError).hint).toMatch(/remove that line/);
    expect(await ftpLoaded()).toBe(false);
    expect(await rulesets()).toBe(before);
  });

  it("refuses while a ModuleBlacklist keeps nf_conntrack_ftp out, and goes in once it is deleted", async () => {
    requireVm();
    const mb = handler("ModuleBlacklist");
    const c = await mb.check({}, { connection: vmConnection(), modules: ["nf_conntrack_ftp"], initramfs: "never" });
    expect(c.failures).toBeUndefined();
    const blacklist = await mb.create(c.inputs);
    const err = await h()
      .create(await program({ backend: "iptables" }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as Error).message).toMatch(
      /nf_conntrack_ftp is kept out on this host by `install nf_conntrack_ftp \/bin\/false` in \/etc\/modprobe\.d\/pulumi-conntrack-blacklist\.conf:\d+/,
    );
    expect((err as ConflictError).hint).toMatch(/ModuleBlacklist resource's, take nf_conntrack_ftp out of its modules/);
    expect(await ftpLoaded()).toBe(false);
    await mb.delete(blacklist.id, { ...c.inputs, ...blacklist.outs });
    const news = await program({ backend: "iptables" });
    const { id, outs } = await h().create(news);
    expect(outs).toMatchObject({ helperModule: { name: "nf_conntrack_ftp", state: "loaded" } });
    await h().delete(id, { ...news, ...outs });
  });
});

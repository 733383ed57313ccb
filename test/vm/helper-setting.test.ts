/**
 * ConntrackHelperSetting on a real modular kernel with the toggle (Debian bullseye, 5.10): the live
 * value set and read back, the persisted option in effect after the module is reloaded, a module
 * not loaded at create, drift by hand and its repair, delete restoring the earlier values. Driven
 * through the dynamic-provider handlers; guest state asserted with the OpenSSH client (`vmExec`).
 * Each test leaves the VM as found: nf_conntrack unloaded, /etc/modprobe.d empty.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../provider/common/markers";
import type { Connection } from "../../provider/connection/schema";
import { apply } from "../../provider/resources/helper-setting/apply";
import { managedFileContent } from "../../provider/resources/helper-setting/managed-file";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { loadVm, requireVm, vmExec, vmConnection } from "./inventory";

const TYPE = "ConntrackHelperSetting";
const FILE = "/etc/modprobe.d/pulumi-conntrack-helper.conf";
const SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_helper";
const PARAM = "/sys/module/nf_conntrack/parameters/nf_conntrack_helper";
/** The host-side record of the values before the first change (provider/resources/helper-setting/previous-record.ts). */
const RECORD = "/etc/modprobe.d/.pulumi-conntrack-helper.conf.pulumi-conntrack-previous";

afterAll(() => closeAll());
afterEach(async () => {
  if (!loadVm()) return;
  await vmExec([
    "sh",
    "-c",
    `rm -f /etc/modprobe.d/pulumi-conntrack-helper.conf /etc/modprobe.d/00-early.conf ${RECORD}; modprobe -r nf_conntrack 2>/dev/null; true`,
  ]);
});

async function run(cmd: string): Promise<string> {
  const r = await vmExec(["sh", "-c", cmd]);
  if (r.code !== 0) throw new Error(`${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The program's inputs, normalized by check as the engine does. */
async function program(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const connection = vmConnection();
  const c = await handler(TYPE).check({}, { connection, ...extra });
  expect(c.failures).toBeUndefined();
  return c.inputs;
}

/** Live value, module parameter and managed file, read with the OpenSSH client. */
async function guest(): Promise<{ live: string; param: string; file: string }> {
  const out = await run(
    `cat ${SYSCTL} 2>/dev/null || echo -; cat ${PARAM} 2>/dev/null || echo -; cat ${FILE} 2>/dev/null | grep '^options' || echo -`,
  );
  const [live, param, file] = out.split("\n");
  return { live, param, file };
}

describe("ConntrackHelperSetting on Debian 5.10 (modular nf_conntrack, toggle present)", () => {
  it("sets and reads back the live value, persists it across a module reload, repairs drift, and delete restores the earlier values", async () => {
    requireVm();
    // Someone turned automatic assignment on by hand before this resource existed.
    await run(`modprobe nf_conntrack && echo 1 > ${SYSCTL} && echo Y > ${PARAM}`);
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "-" });

    const { id, outs } = await handler(TYPE).create(await program());
    expect(outs).toMatchObject({
      toggle: "present",
      nfConntrack: "loaded",
      kernelRelease: expect.stringMatching(/^5\.10\./),
      liveValue: 0,
      moduleParameter: "N",
      persistedFile: FILE,
      persistence: "modprobe.d",
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: null,
      warnings: [],
    });
    expect(outs.persistedContent.split("\n")[0]).toBe(MANAGED_FILE_HEADER);
    expect(outs.actions).toEqual([
      "set net.netfilter.nf_conntrack_helper 1 -> 0",
      expect.stringMatching(/nf_conntrack_helper Y -> N/),
      expect.stringMatching(/^wrote \/etc\/modprobe\.d\/pulumi-conntrack-helper\.conf/),
    ]);
    expect(outs.notes.join(" ")).toMatch(/already got a helper keep it/);
    expect(await guest()).toEqual({ live: "0", param: "N", file: "options nf_conntrack nf_conntrack_helper=0" });

    // Turn it on in place; the value recorded for delete stays the one from before create.
    const on = await program({ enabled: true });
    expect(await handler(TYPE).diff(id, outs, on)).toMatchObject({ changes: true, replaces: [] });
    const u1 = (await handler(TYPE).update(id, outs, on)).outs;
    expect(u1).toMatchObject({ liveValue: 1, moduleParameter: "Y", previousLiveValue: 1, previousModuleParameter: "Y" });
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "options nf_conntrack nf_conntrack_helper=1" });

    // A fresh load of the module takes the persisted option (the 5.10 default would be N).
    await run("modprobe -r nf_conntrack && modprobe nf_conntrack");
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "options nf_conntrack nf_conntrack_helper=1" });

    // Drift by hand: refresh shows it, the next update repairs it.
    await run(`echo 0 > ${SYSCTL}`);
    const r = await handler(TYPE).read(id, u1);
    expect(r.props).toMatchObject({ liveValue: 0 });
    expect(r.inputs).toMatchObject({ enabled: false, persist: true });
    expect((await handler(TYPE).diff(id, r.props!, on)).changes).toBe(true);
    const u2 = (await handler(TYPE).update(id, r.props!, on)).outs;
    expect(u2.actions).toEqual(["set net.netfilter.nf_conntrack_helper 0 -> 1"]);
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "options nf_conntrack nf_conntrack_helper=1" });
    expect((await handler(TYPE).read(id, u2)).inputs).toMatchObject({ enabled: true, persist: true });

    // Off again, then delete: the values from before create come back, the file goes.
    const u3 = (await handler(TYPE).update(id, u2, await program())).outs;
    expect(await guest()).toEqual({ live: "0", param: "N", file: "options nf_conntrack nf_conntrack_helper=0" });
    await handler(TYPE).delete(id, u3);
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "-" });
    expect(await run("ls -A /etc/modprobe.d")).toBe("");
  });

  it("module not loaded at create: persists only, says so, and the value holds when the module loads", async () => {
    requireVm();
    expect(await run("test -d /sys/module/nf_conntrack && echo loaded || echo absent")).toBe("absent");
    // An earlier file with the other value: modprobe reads ours later, so ours must win.
    await run("printf 'options nf_conntrack nf_conntrack_helper=0\\n' > /etc/modprobe.d/00-early.conf");

    const on = await program({ enabled: true });
    const { id, outs } = await handler(TYPE).create(on);
    // Previous: what the module would get at load without this resource (00-early.conf says 0).
    expect(outs).toMatchObject({
      nfConntrack: "not-loaded",
      toggle: "present",
      liveValue: null,
      moduleParameter: null,
      previousLiveValue: 0,
      previousModuleParameter: "N",
      persistence: "modprobe.d",
    });
    expect(outs.notes.join(" ")).toMatch(/not loaded.*takes effect when the module loads/);
    expect(outs.conflicts).toEqual([
      expect.objectContaining({ path: "/etc/modprobe.d/00-early.conf", value: 0, contradicts: true, overridesManagedFile: false }),
    ]);
    expect(outs.warnings.join(" ")).toMatch(/00-early\.conf:1 .*is read later and wins/);
    expect(await guest()).toEqual({ live: "-", param: "-", file: "options nf_conntrack nf_conntrack_helper=1" });

    // The file edited by hand while the module is out: refresh shows it, update repairs it.
    await run(`sed -i 's/nf_conntrack_helper=1/nf_conntrack_helper=0/' ${FILE}`);
    const r = await handler(TYPE).read(id, outs);
    expect(r.inputs).toMatchObject({ enabled: false });
    const u = (await handler(TYPE).update(id, r.props!, on)).outs;
    expect(u.actions).toEqual([expect.stringMatching(/^wrote .*pulumi-conntrack-helper\.conf \(the file differs/)]);

    // Loading the module now gives the persisted value, over the earlier file's.
    await run("modprobe nf_conntrack");
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "options nf_conntrack nf_conntrack_helper=1" });
    const loaded = await handler(TYPE).read(id, u);
    expect(loaded.props).toMatchObject({ nfConntrack: "loaded", liveValue: 1 });
    expect(loaded.inputs).toMatchObject({ enabled: true, persist: true });

    // Delete puts back the value the host's own configuration gives the module (0), removes the file.
    await handler(TYPE).delete(id, loaded.props!);
    expect(await run(`test -e ${FILE} && echo present || echo absent`)).toBe("absent");
    expect(await guest()).toEqual({ live: "0", param: "N", file: "-" });
    expect(await run("cat /etc/modprobe.d/00-early.conf")).toBe("options nf_conntrack nf_conntrack_helper=0");
  });

  it("issue 12, item 3: a drift value is never recorded as the previous one, so destroy does not switch assignment on", async () => {
    requireVm();
    expect(await run("test -d /sys/module/nf_conntrack && echo loaded || echo absent")).toBe("absent");
    // Created while nf_conntrack is not loaded: the previous value is the 5.10 default at load, 0.
    const off = await program();
    const { id, outs } = await handler(TYPE).create(off);
    expect(outs).toMatchObject({ nfConntrack: "not-loaded", liveValue: null, previousLiveValue: 0, previousModuleParameter: "N" });

    // The module loads (our file gives it 0); someone sets 1 by hand.
    await run(`modprobe nf_conntrack && echo 1 > ${SYSCTL}`);
    const r = await handler(TYPE).read(id, outs);
    expect(r.props).toMatchObject({ liveValue: 1, previousLiveValue: 0 });
    expect(r.inputs).toMatchObject({ enabled: true });
    // up repairs it, and still records 0 as what the host had.
    const u = (await handler(TYPE).update(id, r.props!, off)).outs;
    expect(u.actions).toEqual(["set net.netfilter.nf_conntrack_helper 1 -> 0"]);
    expect(u).toMatchObject({ liveValue: 0, previousLiveValue: 0, previousModuleParameter: "N" });

    // The drift again before destroy: destroy writes 0, never the hand-set 1.
    await run(`echo 1 > ${SYSCTL}`);
    await handler(TYPE).delete(id, u);
    expect(await guest()).toEqual({ live: "0", param: "N", file: "-" });
  });

  // Issue 12 item 3 for the live values ("defect B"): the values recorded at create are those before
  // this resource FIRST changed the host, also when the create that changed them never reached the state.
  it("a create whose result was lost, created again, still records the values from before the first change; destroy restores them", async () => {
    requireVm();
    await run(`modprobe nf_conntrack && echo 1 > ${SYSCTL} && echo Y > ${PARAM}`);
    const off = await program();
    // The first create succeeded on the host, but the engine never heard of it (the response was lost).
    const lost = await handler(TYPE).create(off);
    expect(lost.outs).toMatchObject({ liveValue: 0, previousLiveValue: 1, previousModuleParameter: "Y" });
    expect(await run(`cat ${RECORD}`)).toMatch(/^version=1\nkind=absent\nlive=1\nparam=Y$/);

    // The next `up` creates again: the host already shows 0, N and the file, yet previous is 1, Y, none.
    const { id, outs } = await handler(TYPE).create(off);
    expect(outs).toMatchObject({
      actions: [],
      liveValue: 0,
      moduleParameter: "N",
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: null,
    });
    expect(outs.notes.join(" ")).toMatch(/pulumi-conntrack-previous/);
    await handler(TYPE).delete(id, outs);
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "-" });
    expect(await run("ls -A /etc/modprobe.d")).toBe("");
  });

  it("a create killed after its live write (before the module parameter): the retry records the original values, destroy restores them", async () => {
    requireVm();
    await run(`modprobe nf_conntrack && echo 1 > ${SYSCTL} && echo Y > ${PARAM}`);
    const off = await program();
    // What the first attempt's script had done when it died: the record, the file, the live value
    // (the apply script with the steps before the kill point; the lab's fault tier cuts real
    // connections, but its kernel has no toggle).
    await apply(
      off.connection as Connection,
      FILE,
      [
        { kind: "write-file", path: FILE, content: managedFileContent(0), why: "persist" },
        { kind: "set-live", from: 1, to: 0 },
      ],
      { path: RECORD, action: "make" },
    );
    expect(await guest()).toEqual({ live: "0", param: "Y", file: "options nf_conntrack nf_conntrack_helper=0" });

    const { id, outs } = await handler(TYPE).create(off);
    expect(outs).toMatchObject({
      liveValue: 0,
      moduleParameter: "N",
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: null,
    });
    expect(outs.actions).toEqual([expect.stringMatching(/nf_conntrack_helper Y -> N/)]);
    await handler(TYPE).delete(id, outs);
    expect(await guest()).toEqual({ live: "1", param: "Y", file: "-" });
    expect(await run("ls -A /etc/modprobe.d")).toBe("");
  });
});

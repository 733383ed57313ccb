/**
 * A real reboot of the real-kernel VM within one run (`vm.sh reboot`: the guest's systemd shuts
 * down, then the guest boots the kernel and the initrd now in ITS OWN /boot, as a bootloader
 * would). Proves across that reboot:
 * - ConntrackHelperSetting's persisted value applies when nf_conntrack loads at boot;
 * - ModuleBlacklist that regenerates the initramfs keeps a module listed in the initramfs out at
 *   boot, and one with `initramfs: "never"` is reported NOT effective before the reboot, and the
 *   module does load at boot (the output was honest);
 * - a persisted NotrackRule (nftables backend) comes back with nftables.service enabled;
 * - the boot used the initramfs the guest itself regenerated (a marker hook baked into it).
 * Leaves the VM as found (modules file, hooks and initramfs restored, nothing loaded or enabled).
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { requireVm, vmExec, vmReboot, vmConnection } from "./inventory";

const HOOK = "/etc/initramfs-tools/scripts/init-top/ctvm-marker";
const MODULES = "/etc/initramfs-tools/modules";
const MARKER = "/run/ctvm-initramfs-marker";
const SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_helper";

afterAll(() => closeAll());

async function run(cmd: string): Promise<string> {
  const r = await vmExec(["sh", "-c", cmd], undefined, { timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

async function program(type: string, extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const connection = vmConnection();
  const c = await handler(type).check({}, { connection, ...extra });
  expect(c.failures).toBeUndefined();
  return c.inputs;
}

async function loaded(names: string[]): Promise<string[]> {
  const out = await run(`for m in ${names.join(" ")}; do [ -e /sys/module/$m/initstate ] && echo $m; done; true`);
  return out.split("\n").filter(Boolean);
}

describe("across a real reboot of the VM (guest's own kernel and initramfs)", () => {
  it("persisted helper value, initramfs-aware blacklists (auto keeps out, never is honest), persisted NotrackRule", {
    timeout: 1_800_000,
  }, async () => {
    const vm = requireVm();
    const image = `/boot/initrd.img-${vm.kernelRelease}`;
    const token = randomUUID();
    const modulesBefore = (await vmExec(["cat", MODULES])).stdout;
    expect(await loaded(["nf_conntrack", "dummy", "veth"])).toEqual([]);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const made: { type: string; id: string; outs?: any }[] = [];
    try {
      // As an admin would: early boot loads dummy and veth (listed for the initramfs), and a hook
      // marks which initramfs the guest booted. Nothing regenerates yet.
      await run(`printf 'dummy\\nveth\\n' >> ${MODULES}`);
      await run(`printf '#!/bin/sh\\n[ "$1" = prereqs ] && exit 0\\necho ${token} > ${MARKER}\\n' > ${HOOK} && chmod 755 ${HOOK}`);

      // 1. Automatic helper assignment on, persisted, while nf_conntrack is not loaded (5.10 default: 0).
      const hs = await handler("ConntrackHelperSetting").create(await program("ConntrackHelperSetting", { enabled: true }));
      made.push({ type: "ConntrackHelperSetting", ...hs });
      expect(hs.outs).toMatchObject({ nfConntrack: "not-loaded", persistence: "modprobe.d", liveValue: null, previousLiveValue: 0 });

      // 2. veth kept out with a regenerated initramfs ("always": regenerate whenever the file changes).
      const veth = await handler("ModuleBlacklist").create(
        await program("ModuleBlacklist", { modules: ["veth"], initramfs: "always", fileName: "ctvm-veth.conf" }),
      );
      made.push({ type: "ModuleBlacklist", ...veth });
      expect(veth.outs).toMatchObject({ initramfsRegenerated: true, effective: true, warnings: [] });
      const listing = await run(`lsinitramfs ${image}`);
      expect(listing).toMatch(/\/veth\.ko$/m);
      expect(listing).toMatch(/\/dummy\.ko$/m);
      expect(listing).toMatch(/^etc\/modprobe\.d\/ctvm-veth\.conf$/m);
      expect(listing).toMatch(/ctvm-marker$/m);

      // 3. dummy with initramfs "never": it is inside the initramfs, which loads it before
      //    /etc/modprobe.d is read. The output must say so, not claim effective.
      const dummy = await handler("ModuleBlacklist").create(
        await program("ModuleBlacklist", { modules: ["dummy"], initramfs: "never", fileName: "ctvm-dummy.conf" }),
      );
      made.push({ type: "ModuleBlacklist", ...dummy });
      expect(dummy.outs).toMatchObject({
        initramfsRegenerated: false,
        effective: false,
        moduleStates: [expect.objectContaining({ name: "dummy", blocked: true, effective: false })],
      });
      expect(dummy.outs.warnings).toEqual([expect.stringMatching(/^initramfs: dummy is inside .* "never": early boot may still load it/)]);

      // 4. A persisted NotrackRule, with its persistence service enabled.
      await run("systemctl enable nftables.service 2>&1");
      const nr = await handler("NotrackRule").create(
        await program("NotrackRule", {
          ruleName: "vm-dns",
          chain: "PREROUTING",
          protocol: "udp",
          destinationPort: 53,
          backend: "nftables",
        }),
      );
      made.push({ type: "NotrackRule", ...nr });
      expect(nr.outs.persistence).toEqual({ mechanism: "nftables", file: "/etc/nftables.conf" });
      const tag = nr.outs.tag as string;
      expect(await run("nft list ruleset")).toContain(tag);

      // The real reboot.
      const bootBefore = await run("cat /proc/sys/kernel/random/boot_id");
      closeAll();
      const times = await vmReboot();
      console.log(`[vm] real reboot: shutdown ${times.shutdownSeconds} s, boot ${times.bootSeconds} s, total ${times.totalSeconds} s`);
      expect(await run("cat /proc/sys/kernel/random/boot_id")).not.toBe(bootBefore);
      expect(await run("uname -r")).toBe(vm.kernelRelease);
      // The initramfs that booted is the one the ModuleBlacklist regenerated inside the guest.
      expect(await run(`cat ${MARKER}`)).toBe(token);

      // veth stayed out (the regenerated initramfs holds the file); dummy was loaded at boot, as
      // the "never" output said it might: that output was the honest one.
      expect(await loaded(["veth", "dummy"])).toEqual(["dummy"]);
      expect((await vmExec(["modprobe", "veth"])).code).not.toBe(0);

      // The NotrackRule is back (nftables.service), which loaded nf_conntrack, which took the
      // persisted helper value (the kernel default would be 0).
      expect(await run("nft list ruleset")).toContain(tag);
      expect(await loaded(["nf_conntrack"])).toEqual(["nf_conntrack"]);
      expect(await run(`cat ${SYSCTL}`)).toBe("1");

      // Refresh after the reboot: no drift for the helper and the rule; the blacklists as reported.
      const hsRead = await handler("ConntrackHelperSetting").read(hs.id, hs.outs);
      expect(hsRead.props).toMatchObject({ nfConntrack: "loaded", liveValue: 1, moduleParameter: "Y", previousLiveValue: 0 });
      expect(
        (await handler("ConntrackHelperSetting").diff(hs.id, hsRead.props!, await program("ConntrackHelperSetting", { enabled: true })))
          .changes,
      ).toBe(false);
      const nrRead = await handler("NotrackRule").read(nr.id, nr.outs);
      expect(nrRead.props).toMatchObject({ tag });
      expect(
        (
          await handler("NotrackRule").diff(
            nr.id,
            nrRead.props!,
            await program("NotrackRule", {
              ruleName: "vm-dns",
              chain: "PREROUTING",
              protocol: "udp",
              destinationPort: 53,
              backend: "nftables",
            }),
          )
        ).changes,
      ).toBe(false);
      const dummyRead = await handler("ModuleBlacklist").read(dummy.id, dummy.outs);
      expect(dummyRead.props).toMatchObject({
        effective: false,
        moduleStates: [expect.objectContaining({ name: "dummy", loaded: true, effective: false })],
      });
      expect(await handler("ModuleBlacklist").read(veth.id, veth.outs)).toMatchObject({
        props: { effective: true, moduleStates: [expect.objectContaining({ name: "veth", loaded: false })] },
      });
      for (const m of made) {
        const r = await handler(m.type).read(m.id, m.outs);
        m.outs = r.props;
      }
    } finally {
      // Back as found: the admin's changes first, so that the veth delete regenerates an
      // initramfs equal in content to the original one.
      await vmExec(["sh", "-c", `cat > ${MODULES}.tmp && mv ${MODULES}.tmp ${MODULES}; rm -f ${HOOK}`], modulesBefore);
      for (const m of made.reverse())
        await handler(m.type)
          .delete(m.id, m.outs)
          .catch((e) => console.error(`cleanup ${m.type}: ${e}`));
      await run(
        "systemctl disable nftables.service 2>&1; nft flush ruleset; modprobe -r dummy veth nft_ct nf_conntrack nf_defrag_ipv4 nf_defrag_ipv6 nf_tables 2>/dev/null; true",
      );
      closeAll();
    }
    expect((await vmExec(["cat", MODULES])).stdout).toBe(modulesBefore);
    expect(await run(`lsinitramfs ${image} | grep -c -E '/(veth|dummy)\\.ko$|ctvm' || true`)).toBe("0");
    expect(await loaded(["nf_conntrack", "dummy", "veth"])).toEqual([]);
  });
});

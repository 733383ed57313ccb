/**
 * Fault class: `/etc` read-only, and `/etc` full (a small tmpfs holding a copy of the host's /etc,
 * filled to the last block), for every kind. Each case: the operation fails with an error naming the
 * host, the file and the host's reason, and claiming nothing that did not happen; the host is byte
 * for byte as before (nothing live without its saved copy, no temp file); a resource in the same
 * batch that needs no file (`persist: false`) is unaffected; once the disk is fixed the retry
 * converges, and destroy leaves the host as before. Host: ctlab14.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeAll } from "../../provider/transport/pool";
import { hostExec, isRoot, labRunning, loadLab, requireLab } from "../lab/inventory";
import { assertPrivateEtc, connectionOf, hostSh, labelOf, resetFaultHost, snapshot, tagCount } from "./faults";
import { LAB_MODULES, create, destroy, expectErrorSaying, h, type Props } from "./programs";

const HOST = "ctlab14";

type DiskFault = "read-only" | "full";
/** What the error must say for each fault (the host's own reason, as the tools print it). */
const REASON: Record<DiskFault, RegExp> = { "read-only": /read-only file system/i, full: /no space left on device/i };

/**
 * Breaks the host's /etc inside its own mount namespace (its sshd and every session see it):
 * remounted read-only, or covered by a full tmpfs copy. Undone by {@link fixDisk}. Both first make
 * sure /etc there is the host's private copy: a change to the machine's /etc would hit every helper.
 */
async function breakDisk(fault: DiskFault): Promise<void> {
  assertPrivateEtc(HOST);
  const script =
    fault === "read-only"
      ? "mount -o remount,bind,ro /etc"
      : `set -e
d=/run/ctk-fault-full-${HOST}
mkdir -p "$d"
mount -t tmpfs -o size=16m,mode=0755 ctk-fault-full "$d"
cp -a /etc/. "$d/"
mount --bind "$d" /etc
dd if=/dev/zero of=/etc/.ctk-fault-fill bs=64k 2>/dev/null || true
dd if=/dev/zero of=/etc/.ctk-fault-fill2 bs=1 2>/dev/null || true
! printf x > /etc/.ctk-fault-probe 2>/dev/null || { rm -f /etc/.ctk-fault-probe; echo "not full" >&2; exit 1; }`;
  const r = await hostExec(HOST, ["sh", "-c", script]);
  if (r.code !== 0) throw new Error(`cannot make /etc ${fault} on ${HOST}: ${r.stderr}`);
}

/**
 * Puts the host's /etc back: only a mount this file made is removed (the full tmpfs, recognised by
 * its source name), and a read-only private /etc is made writable again. Never unmounts the host's
 * private /etc itself.
 */
async function fixDisk(): Promise<void> {
  const r = await hostExec(HOST, [
    "sh",
    "-c",
    `top() { grep ' /etc ' /proc/self/mountinfo | tail -n 1; }
while top | grep -q ' - tmpfs ctk-fault-full '; do umount /etc || umount -l /etc; done
if mountpoint -q /run/ctk-fault-full-${HOST}; then umount -l /run/ctk-fault-full-${HOST}; fi
rmdir /run/ctk-fault-full-${HOST} 2>/dev/null
if top | awk '{print $6}' | grep -q '^ro'; then mount -o remount,bind,rw /etc; fi
true`,
  ]);
  if (r.code !== 0) throw new Error(`cannot restore /etc on ${HOST}: ${r.stderr}`);
  assertPrivateEtc(HOST);
}

const FAULTS: DiskFault[] = ["read-only", "full"];

describe.skipIf(!isRoot() || !labRunning())("read-only and full /etc", () => {
  beforeEach(async (ctx) => {
    requireLab(ctx);
    await fixDisk();
    await resetFaultHost(HOST);
  });
  afterEach(async () => {
    await fixDisk();
  });
  afterAll(async () => {
    await closeAll();
    if (isRoot() && loadLab()) {
      await fixDisk();
      await resetFaultHost(HOST);
    }
  });

  it.each(FAULTS.flatMap((fault) => (["iptables", "nftables"] as const).map((backend) => ({ fault, backend }))))(
    "NotrackRule ($backend), /etc $fault: the persisted rule fails saying why, nothing is live, its persist:false batch-mate succeeds; fixed, the retry converges",
    async ({ fault, backend }) => {
      const before = await snapshot(HOST);
      const base = { connection: connectionOf(HOST), chain: "PREROUTING", protocol: "udp", backend };
      const saved = (await h("NotrackRule").check({}, { ...base, ruleName: "disk-saved", destinationPort: 7301 })).inputs;
      const volatile = (await h("NotrackRule").check({}, { ...base, ruleName: "disk-volatile", destinationPort: 7302, persist: false }))
        .inputs;
      const file = backend === "nftables" ? "/etc/nftables.conf" : "/etc/iptables/rules.v4";

      await breakDisk(fault);
      const [a, b] = await Promise.allSettled([h("NotrackRule").create(saved), h("NotrackRule").create(volatile)]);
      expect(a.status).toBe("rejected");
      const err = (a as PromiseRejectedResult).reason as Error;
      expectErrorSaying(err, labelOf(HOST), REASON[fault]);
      expect(err.message).toContain(file.replace(/\/[^/]*$/, ""));
      // Nothing of the failed rule is live, and the error must not claim otherwise.
      expect(await tagCount(HOST, "disk-saved"), "the failed rule is not live").toEqual({ live: 0, saved: 0 });
      expect.soft(err.message, "issue #12 defect 6").not.toMatch(/live rule is in place/);
      // The batch-mate that writes no file is not dragged down.
      expect.soft(b.status, b.status === "rejected" ? String((b as PromiseRejectedResult).reason) : "").toBe("fulfilled");
      const vol = b.status === "fulfilled" ? (b.value as { id: string; outs: Props }) : undefined;
      expect
        .soft(await tagCount(HOST, "disk-volatile"), "state true to the host: the persist:false rule is live iff its create succeeded")
        .toEqual({ live: vol ? 1 : 0, saved: 0 });
      await fixDisk();

      // The retry converges: exactly one live and one saved copy.
      const made = await h("NotrackRule").create(saved);
      expect(await tagCount(HOST, "disk-saved")).toEqual({ live: 1, saved: 1 });
      await destroy("NotrackRule", { id: made.id, outs: made.outs as Props });
      if (vol) await destroy("NotrackRule", { id: vol.id, outs: vol.outs as Props });
      expect(await snapshot(HOST)).toBe(before);
    },
  );

  it.each(FAULTS)(
    "ModuleBlacklist, /etc %s: fails saying why, writes nothing; fixed, the retry converges and destroy restores",
    async (fault) => {
      const before = await snapshot(HOST);
      const news = (await h("ModuleBlacklist").check({}, { connection: connectionOf(HOST), modules: LAB_MODULES, initramfs: "never" }))
        .inputs;
      await breakDisk(fault);
      const err = await h("ModuleBlacklist")
        .create(news)
        .catch((e: Error) => e);
      expectErrorSaying(err, labelOf(HOST), REASON[fault]);
      expect((err as Error).message).toContain("/etc/modprobe.d/pulumi-conntrack-blacklist.conf");
      expect(await snapshot(HOST), "a failed create leaves the host as it was").toBe(before);
      await fixDisk();
      const made = await create("ModuleBlacklist", news);
      expect(await hostSh(HOST, "cat /etc/modprobe.d/pulumi-conntrack-blacklist.conf")).toContain(`blacklist ${LAB_MODULES[0]}`);
      await destroy("ModuleBlacklist", made);
      expect(await snapshot(HOST)).toBe(before);
    },
  );

  const HELPER_FILE = "/etc/modprobe.d/no_conntrack_helper.conf";
  const HAND_MADE = "options nf_conntrack nf_conntrack_helper=0\n";

  it.each(FAULTS)(
    "ConntrackHelperSetting, /etc %s: the stale file's removal fails saying why and changes nothing; fixed, the retry converges",
    async (fault) => {
      await hostSh(HOST, `printf '%s' '${HAND_MADE}' > ${HELPER_FILE}`);
      const before = await snapshot(HOST);
      const news = (await h("ConntrackHelperSetting").check({}, { connection: connectionOf(HOST), fileName: "no_conntrack_helper.conf" }))
        .inputs;
      await breakDisk(fault);
      const r = await h("ConntrackHelperSetting")
        .create(news)
        .then((x) => ({ ok: true as const, made: { id: x.id, outs: x.outs as Props } }))
        .catch((e: Error) => ({ ok: false as const, err: e }));
      // Removing needs no space, but the record of the file that the create writes before it does
      // (issue #12 item 3: a retry must still know what the host had): on a full /etc too the
      // create fails saying why and changes nothing.
      expect(r.ok, "removing a file from a read-only or full /etc cannot succeed").toBe(false);
      if (!r.ok) expectErrorSaying(r.err, labelOf(HOST), REASON[fault]);
      expect(await snapshot(HOST)).toBe(before);
      await fixDisk();
      const made = await create("ConntrackHelperSetting", news);
      expect(await hostSh(HOST, `test -e ${HELPER_FILE} && echo present || echo absent`)).toBe("absent\n");
      await destroy("ConntrackHelperSetting", made);
      expect(await snapshot(HOST)).toBe(before);
    },
  );
});

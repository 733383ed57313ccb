/**
 * Fault class: the SSH connection is cut at each step of every apply (waiting for the lock, in the
 * middle of `nft -f` / `iptables-restore`, right after it, at the rename that completes a file
 * write), for NotrackRule on iptables-nft, iptables-legacy and native nftables, for
 * ConntrackHelperSetting and for ModuleBlacklist. The remote script then either finishes on its own
 * (a vanished client does not stop it) or dies at that point (killed with the session).
 *
 * Each case ends with: an error naming the host that says the connection was lost; a retry (the
 * next `pulumi up`, which creates again what was not recorded) that converges to exactly what the
 * program asks (one live and one saved rule per resource, no temp file); refresh agreeing with the
 * host; and destroy leaving the host byte for byte as before the first attempt.
 *
 * Hosts: ctlab11 (iptables-nft, helper, blacklist), ctlab12 (iptables-legacy), ctlab13 (nftables).
 */
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { isRoot, labRunning, loadLab, requireLab } from "../lab/inventory";
import { MANAGED_FILE_HEADER } from "../../provider/common/markers";
import {
  armBlock,
  connectionOf,
  cutConnection,
  hostSh,
  installShims,
  killRemote,
  labelOf,
  quiesce,
  release,
  resetFaultHost,
  setBackend,
  snapshot,
  expectEachTagged,
  waitBlocked,
  type Phase,
} from "./faults";
import { BACKENDS, LAB_MODULES, create, destroy, expectErrorSaying, h, notrackPrograms, refresh, type Kind, type Props } from "./programs";

const HOSTS = ["ctlab11", "ctlab12", "ctlab13"];
const RULES = 3;
/** What an interrupted operation's error must say. */
const LOST = /connection|channel|session|killed|closed|lost|cut/i;

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) for (const n of HOSTS) await resetFaultHost(n);
});

/** A cut point: the tool whose invocation is held, before or after it runs, and which invocations. */
interface CutPoint {
  step: string;
  tool: string;
  phase: Phase;
  pattern: string;
}

/** How the connection goes: the host's sshd session killed, or the client closing its pool. */
type CutHow = "server" | "client";
/** What becomes of the remote script: it finishes on its own, or it dies at the cut point. */
type Fate = "finishes" | "killed";

/**
 * Holds the apply at the cut point, cuts the connection, lets the script finish or kills it, and
 * waits for the host to be quiet. Returns the settled results of `start`.
 */
async function interrupted<T>(
  host: string,
  cut: CutPoint,
  how: CutHow,
  fate: Fate,
  start: () => Promise<T>[],
): Promise<PromiseSettledResult<T>[]> {
  installShims(host, [cut.tool]);
  armBlock(host, cut.tool, cut.phase, cut.pattern);
  const ops = start();
  const settled = Promise.allSettled(ops);
  let pid: number;
  try {
    pid = await waitBlocked(host, cut.tool);
  } catch (e) {
    release(host, cut.tool);
    const r = await settled;
    throw new Error(
      `${(e as Error).message}; the operations ended: ${JSON.stringify(r.map((x) => (x.status === "rejected" ? String(x.reason) : "ok")))}`,
    );
  }
  if (how === "server") cutConnection(host);
  else await closeAll();
  const results = await settled;
  if (fate === "killed") killRemote(pid);
  release(host, cut.tool);
  await quiesce(host);
  return results;
}

function notrackCuts(restore: string, backend: string): CutPoint[] {
  // iptables-restore is also run with --help (to learn whether it knows --wait): hold only the real batch.
  const batch = backend === "nftables" ? "-f *" : "*--noflush*";
  return [
    { step: "waiting for the lock", tool: "flock", phase: "before", pattern: "*" },
    { step: `in ${restore} (before it commits)`, tool: restore, phase: "before", pattern: batch },
    { step: `right after ${restore} committed`, tool: restore, phase: "after", pattern: batch },
    { step: "at the rename that writes the saved ruleset", tool: "mv", phase: "before", pattern: "*" },
    // The re-check under the lock that the modprobe.d lines the plan was decided by are still there
    // (Plan.modprobeGuard): its grep is the only one whose ERE has "]*install" (CORE_INSTALL_ERE;
    // the observe scripts' ERE has "]*(install|"), so the block waits for the apply, not an observe.
    { step: "at the modprobe.d re-check under the lock", tool: "grep", phase: "before", pattern: "*]?install?*" },
  ];
}

const NOTRACK_CASES = BACKENDS.flatMap((b, bi) => {
  const host = HOSTS[bi];
  return notrackCuts(b.restore, b.backend).flatMap((cut, ci) => {
    const fates: Array<{ how: CutHow; fate: Fate }> = [{ how: "server", fate: "finishes" }];
    // The client side of a cut and a script that dies with it, once per backend, at different steps.
    if (ci === bi) fates.push({ how: "client", fate: "finishes" });
    if (ci === 3 - bi || (ci === 4 && bi === 1)) fates.push({ how: "server", fate: "killed" });
    return fates.map((f) => ({ ...b, host, cut, ...f, base: 7100 + bi * 100 + ci * 10 }));
  });
});

describe.skipIf(!isRoot() || !labRunning())("connection cut at each step of an apply", () => {
  beforeEach(async (ctx) => {
    requireLab(ctx);
  });

  /** Resets the one host a case uses, on the backend it runs. */
  async function fresh(host: string, alternative: "nft" | "legacy" = "nft"): Promise<void> {
    await resetFaultHost(host);
    if (alternative === "legacy") await setBackend(host, "legacy");
  }

  // The lock-wait cuts are where a script can start before its standard input (the new saved
  // ruleset) has arrived: a cut there once gave an empty /etc/nftables.conf, which the apply now
  // refuses (the content is checked against its sum before anything changes).
  it.each(NOTRACK_CASES)(
    "NotrackRule on $name: cut ($how side) $cut.step, script $fate; the retry converges and destroy restores",
    async (c) => {
      await fresh(c.host, c.alternative);
      const before = await snapshot(c.host);
      const progs = notrackPrograms(c.host, c.backend, RULES, c.base, `cut${c.base}`);
      const checked = await Promise.all(progs.map(async (p) => (await h("NotrackRule").check({}, p)).inputs));

      const first = await interrupted(c.host, c.cut, c.how, c.fate, () => checked.map((p) => h("NotrackRule").create(p)));
      const failed = first.map((r, i) => ({ r, i })).filter((x) => x.r.status === "rejected");
      expect(failed.length, "a create whose connection was cut must not report success").toBe(RULES);
      for (const f of failed) expectErrorSaying((f.r as PromiseRejectedResult).reason, labelOf(c.host), LOST);

      // The next `pulumi up` creates again every resource the state does not hold.
      const made = await Promise.all(checked.map((p) => h("NotrackRule").create(p)));
      const names = progs.map((p) => String(p.ruleName));
      // Soft: a duplicate and a leftover temp file are both reported, and destroy still runs.
      expect
        .soft(
          await expectEachTagged(c.host, names, { live: 1, saved: 1 }),
          "rules without exactly one live and one saved copy after the retry",
        )
        .toEqual({});
      expect.soft(await hostSh(c.host, "find /etc -name '.ctk-tmp.*'"), "no temp file left").toBe("");

      // The state is true to the host: refresh sees no drift.
      for (const m of made) {
        const r = await refresh("NotrackRule", { id: m.id, outs: m.outs as Props });
        expect(r.id).toBe(m.id);
        expect.soft((r.props as Props).observedDrift ?? [], `${m.id}: refresh`).toEqual([]);
      }

      await Promise.all(made.map((m) => destroy("NotrackRule", { id: m.id, outs: m.outs as Props })));
      expect(await snapshot(c.host), "destroy leaves the host byte for byte as before the first attempt").toBe(before);
    },
  );

  const HELPER_FILE = "/etc/modprobe.d/no_conntrack_helper.conf";
  /** The host-side record of what the host had before the resource's first change (previous-record.ts). */
  const HELPER_RECORD = "/etc/modprobe.d/.no_conntrack_helper.conf.pulumi-conntrack-previous";
  const HAND_MADE = "# no helpers, see OPS-1\noptions nf_conntrack nf_conntrack_helper=0\n";
  const HELPER_CUTS: Array<CutPoint & { fate: Fate }> = [
    { step: "waiting for the lock", tool: "flock", phase: "before", pattern: "*", fate: "finishes" },
    { step: "at the removal of the stale file", tool: "rm", phase: "before", pattern: `*${HELPER_FILE}`, fate: "finishes" },
    { step: "right after the stale file was removed", tool: "rm", phase: "after", pattern: `*${HELPER_FILE}`, fate: "killed" },
    // Before anything changed: the record's temporary file is left, and the retry sweeps it.
    {
      step: "at the rename that writes the record of the earlier values",
      tool: "mv",
      phase: "before",
      pattern: `*${HELPER_RECORD}`,
      fate: "killed",
    },
  ];

  it.each(HELPER_CUTS)(
    "ConntrackHelperSetting: cut $step, script $fate; the retry converges and the state says what it did",
    async (cut) => {
      const host = "ctlab11";
      await fresh(host);
      await hostSh(host, `printf '%s' '${HAND_MADE}' > ${HELPER_FILE} && chmod 0640 ${HELPER_FILE}`);
      const news = (await h("ConntrackHelperSetting").check({}, { connection: connectionOf(host), fileName: "no_conntrack_helper.conf" }))
        .inputs;

      const [first] = await interrupted(host, cut, "server", cut.fate, () => [h("ConntrackHelperSetting").create(news)]);
      expect(first.status).toBe("rejected");
      expectErrorSaying((first as PromiseRejectedResult).reason, labelOf(host), LOST);

      const made = await h("ConntrackHelperSetting").create(news);
      expect(
        await hostSh(host, `test -e ${HELPER_FILE} && echo present || echo absent`),
        "as the program asks: the stale option is gone",
      ).toBe("absent\n");
      expect(await hostSh(host, "find /etc -name '.ctk-tmp.*'")).toBe("");
      // The state says what the host had before this resource first changed it, whichever attempt
      // changed it (issue 12 item 3), and destroy puts exactly that back and removes the record.
      expect(made.outs.previousFileContent).toBe(HAND_MADE);
      expect(made.outs.previousFileMode).toBe("640");
      const r = await refresh("ConntrackHelperSetting", { id: made.id, outs: made.outs as Props });
      expect((await h("ConntrackHelperSetting").diff(made.id, r.props as Props, news)).changes).toBe(false);
      await destroy("ConntrackHelperSetting", { id: made.id, outs: r.props as Props });
      expect(await hostSh(host, `cat ${HELPER_FILE} 2>/dev/null || echo absent`)).toBe(HAND_MADE);
      expect(await hostSh(host, `stat -c %a ${HELPER_FILE}`)).toBe("640\n");
      expect(await hostSh(host, `test -e ${HELPER_RECORD} && echo present || echo absent`), "destroy removes the record").toBe("absent\n");
    },
  );

  // Issue 12 #3's rule for files: "previous" is what the host had before this resource first
  // changed it. A create whose script removed the hand-made file and was then cut must not make the
  // retry record "no file": destroy would never put the operator's file back.
  const HELPER_REMOVED_CUTS: Array<CutPoint & { fate: Fate }> = [
    { step: "at the removal of the hand-made file", tool: "rm", phase: "before", pattern: `*${HELPER_FILE}`, fate: "finishes" },
    { step: "right after the hand-made file was removed", tool: "rm", phase: "after", pattern: `*${HELPER_FILE}`, fate: "killed" },
  ];

  /** A fresh host with the operator's hand-made file at the managed path: its snapshot and the checked inputs. */
  async function withHandMadeFile(host: string): Promise<{ before: string; news: Props }> {
    await fresh(host);
    await hostSh(host, `printf '%s' '${HAND_MADE}' > ${HELPER_FILE} && chmod 0640 ${HELPER_FILE}`);
    const before = await snapshot(host);
    const news = (await h("ConntrackHelperSetting").check({}, { connection: connectionOf(host), fileName: "no_conntrack_helper.conf" }))
      .inputs as Props;
    return { before, news };
  }

  // Fixed by the host-side record: the create's apply script writes what the host had (file,
  // mode, live value, module parameter) next to the managed file before its first change, the
  // retry's observe reads it and the record step prefers it, and destroy removes it last.
  it.each(HELPER_REMOVED_CUTS)(
    "ConntrackHelperSetting: cut $step, script $fate; the retry still records the hand-made file and destroy puts it back",
    async (cut) => {
      const host = "ctlab11";
      const { before, news } = await withHandMadeFile(host);

      const [first] = await interrupted(host, cut, "server", cut.fate, () => [h("ConntrackHelperSetting").create(news)]);
      expect(first.status).toBe("rejected");
      expectErrorSaying((first as PromiseRejectedResult).reason, labelOf(host), LOST);
      expect(
        await hostSh(host, `test -e ${HELPER_FILE} && echo present || echo absent`),
        "precondition: the interrupted attempt removed the file",
      ).toBe("absent\n");

      const made = await h("ConntrackHelperSetting").create(news);
      expect.soft(made.outs.previousFileContent, "previous: what the host had before this resource first changed it").toBe(HAND_MADE);
      expect.soft(made.outs.notes, "the outputs say where previous came from").toContainEqual(expect.stringContaining(HELPER_RECORD));
      await destroy("ConntrackHelperSetting", { id: made.id, outs: made.outs as Props });
      expect(await snapshot(host), "destroy leaves the host byte for byte as before the first attempt").toBe(before);
    },
  );

  // The other side: a destroy cut after it put the file back but before it removed the record. The
  // state still holds the resource (the delete failed); the retried destroy finds nothing left to
  // restore but the record, and removes it.
  it("ConntrackHelperSetting: destroy cut at the removal of the record, script killed; the retried destroy removes it", async () => {
    const host = "ctlab11";
    const { before, news } = await withHandMadeFile(host);
    const made = await h("ConntrackHelperSetting").create(news);
    expect(await hostSh(host, `test -e ${HELPER_RECORD} && echo present || echo absent`)).toBe("present\n");

    const cut: CutPoint = { step: "at the removal of the record", tool: "rm", phase: "before", pattern: `*${HELPER_RECORD}` };
    const [first] = await interrupted(host, cut, "server", "killed", () => [
      destroy("ConntrackHelperSetting", { id: made.id, outs: made.outs as Props }),
    ]);
    expect(first.status).toBe("rejected");
    expectErrorSaying((first as PromiseRejectedResult).reason, labelOf(host), LOST);
    expect(await hostSh(host, `cat ${HELPER_FILE}`), "precondition: the file was put back before the cut").toBe(HAND_MADE);
    expect(await hostSh(host, `test -e ${HELPER_RECORD} && echo present || echo absent`)).toBe("present\n");

    await destroy("ConntrackHelperSetting", { id: made.id, outs: made.outs as Props });
    expect(await snapshot(host), "destroy leaves the host byte for byte as before create").toBe(before);
  });

  // Issue 11 for ConntrackTableSize: a create cut after it changed a value but before its file was
  // replaced, the script killed there (so it cannot roll back): held at the copy it takes of the
  // hand-made sysctl.d file, which the script itself runs. The retry must record the value the host
  // had before the first attempt (from the host-side record, common/previous-record.ts), not the
  // attempt's own, or destroy would "put back" the changed value.
  it("ConntrackTableSize: cut after a value was set, before the file step, script killed; the retry records the values before the first attempt", async () => {
    const host = "ctlab11";
    const SYSCTL_FILE = "/etc/sysctl.d/90-pulumi-conntrack-table.conf";
    const TABLE_RECORD = "/etc/modprobe.d/.pulumi-conntrack-table.conf.pulumi-conntrack-previous";
    const UDP = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout";
    const HAND_MADE_SYSCTL = "# ops: conntrack timeouts are set here (OPS-7)\n";
    const cleanup = `rm -rf ${SYSCTL_FILE} /etc/modprobe.d/pulumi-conntrack-table.conf /etc/udev/rules.d/90-pulumi-conntrack-table.rules ${TABLE_RECORD}; find /etc -name '.ctk-tmp.*' -delete`;
    await fresh(host);
    await hostSh(host, `${cleanup}; mkdir -p /etc/sysctl.d && printf '%s' '${HAND_MADE_SYSCTL}' > ${SYSCTL_FILE}`);
    const udp0 = (await hostSh(host, `cat ${UDP}`)).trim();
    const news = (await handler("ConntrackTableSize").check({}, { connection: connectionOf(host), timeouts: { udp: Number(udp0) + 7 } }))
      .inputs;
    try {
      const cut: CutPoint = {
        step: "at the copy of the sysctl.d file",
        tool: "cp",
        phase: "before",
        pattern: `*${SYSCTL_FILE} *`,
      };
      const [first] = await interrupted(host, cut, "server", "killed", () => [handler("ConntrackTableSize").create(news)]);
      expect(first.status).toBe("rejected");
      expectErrorSaying((first as PromiseRejectedResult).reason, labelOf(host), LOST);
      expect((await hostSh(host, `cat ${UDP}`)).trim(), "precondition: the interrupted attempt changed the value").toBe(
        String(Number(udp0) + 7),
      );

      const made = await handler("ConntrackTableSize").create(news);
      expect
        .soft(made.outs.previousTimeouts, "previous: what the host had before the first attempt")
        .toEqual({ nf_conntrack_udp_timeout: Number(udp0) });
      expect.soft(made.outs.previousFiles).toEqual({ sysctl: HAND_MADE_SYSCTL, modprobe: null, udev: null });
      expect(await hostSh(host, "find /etc -name '.ctk-tmp.*'"), "no temporary file left in /etc").toBe("");

      await handler("ConntrackTableSize").delete(made.id, made.outs);
      expect((await hostSh(host, `cat ${UDP}`)).trim()).toBe(udp0);
      expect(await hostSh(host, `cat ${SYSCTL_FILE}`)).toBe(HAND_MADE_SYSCTL);
      expect(await hostSh(host, `test -e ${TABLE_RECORD} && echo present || echo absent`), "destroy removes the record").toBe("absent\n");
    } finally {
      await hostSh(host, `echo ${udp0} > ${UDP}; ${cleanup}`);
    }
  });

  const BLACKLIST_FILE = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
  const BLACKLIST_CUTS: Array<CutPoint & { fate: Fate }> = [
    { step: "waiting for the lock", tool: "flock", phase: "before", pattern: "*", fate: "finishes" },
    { step: "at the rename that writes the file", tool: "mv", phase: "before", pattern: `*${BLACKLIST_FILE}`, fate: "finishes" },
    { step: "at the rename that writes the file", tool: "mv", phase: "before", pattern: `*${BLACKLIST_FILE}`, fate: "killed" },
  ];

  it.each(BLACKLIST_CUTS)("ModuleBlacklist: cut $step, script $fate; the retry converges and destroy restores", async (cut) => {
    const host = "ctlab11";
    await fresh(host);
    const before = await snapshot(host);
    const news = (await h("ModuleBlacklist").check({}, { connection: connectionOf(host), modules: LAB_MODULES, initramfs: "never" }))
      .inputs;

    const [first] = await interrupted(host, cut, "server", cut.fate, () => [h("ModuleBlacklist").create(news)]);
    expect(first.status).toBe("rejected");
    expectErrorSaying((first as PromiseRejectedResult).reason, labelOf(host), LOST);

    const made = await h("ModuleBlacklist").create(news);
    const file = await hostSh(host, `cat ${BLACKLIST_FILE}`);
    expect(file.split("\n")[0]).toBe(MANAGED_FILE_HEADER);
    for (const m of LAB_MODULES) expect(file).toContain(`blacklist ${m}`);
    expect.soft(await hostSh(host, "find /etc -name '.ctk-tmp.*'"), "no temp file left").toBe("");
    const r = await refresh("ModuleBlacklist" as Kind, { id: made.id, outs: made.outs as Props });
    expect((await h("ModuleBlacklist").diff(made.id, r.props as Props, news)).changes).toBe(false);

    await destroy("ModuleBlacklist", { id: made.id, outs: r.props as Props });
    expect(await snapshot(host), "destroy leaves the host byte for byte as before the first attempt").toBe(before);
  });
});

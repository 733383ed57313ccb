/**
 * Fault class: every tool the provider runs on the host prints warnings on stderr (shims in the
 * host's private /usr/local/sbin print the real "# Warning: iptables-legacy tables present" text,
 * a warning, and lines that look like rules, then run the real tool), and on the iptables-nft host
 * legacy tables exist too, so the real iptables-nft-save warns as well. Nothing may be parsed from
 * stderr (issue #12 defect 5): creates succeed, exactly one live and one saved copy per rule, refresh
 * reports no drift and no change, destroy leaves the host byte for byte as before. Host: ctlab14.
 */
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { closeAll } from "../../provider/transport/pool";
import { isRoot, labRunning, loadLab, requireLab } from "../lab/inventory";
import { ALL_TOOLS, connectionOf, hostSh, installShims, resetFaultHost, expectEachTagged, setNoise, snapshot } from "./faults";
import { LAB_MODULES, create, destroy, h, notrackPrograms, refresh, type Kind, type Props } from "./programs";

const HOST = "ctlab14";

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) await resetFaultHost(HOST);
});

/** Refresh agrees with the program: no drift recorded, and diff against the program finds nothing. */
async function expectNoDrift(kind: Kind, made: { id: string; outs: Props }, news: Props): Promise<void> {
  const r = await refresh(kind, made);
  expect(r.id, `${made.id} still exists`).toBe(made.id);
  expect((r.props as Props).observedDrift ?? [], `${made.id}: drift from stderr noise`).toEqual([]);
  const d = await h(kind).diff(made.id, r.props as Props, news);
  expect(d.changes, `${made.id}: false change after refresh`).toBe(false);
}

describe.skipIf(!isRoot() || !labRunning())("stderr noise from every tool", () => {
  beforeEach(async (ctx) => {
    requireLab(ctx);
    await resetFaultHost(HOST);
  });

  it.each([
    { backend: "iptables" as const, rules: 40, legacy: true },
    { backend: "nftables" as const, rules: 6, legacy: false },
  ])("NotrackRule ($backend, $rules rules): no false drift, nothing parsed from stderr", async ({ backend, rules, legacy }) => {
    // A legacy raw table as well: the real iptables-nft-save then warns on every call.
    if (legacy)
      await hostSh(HOST, "iptables-legacy -t raw -A PREROUTING -p udp --dport 9 -m comment --comment unmanaged-legacy -j CT --notrack");
    const before = await snapshot(HOST);
    installShims(HOST, ALL_TOOLS);
    setNoise(HOST, true);

    const progs = notrackPrograms(HOST, backend, rules, 7500, `noise-${backend}`);
    const checked = await Promise.all(progs.map(async (p) => (await h("NotrackRule").check({}, p)).inputs));
    const made = await Promise.all(checked.map((c) => h("NotrackRule").create(c)));
    const names = progs.map((p) => String(p.ruleName));
    expect(await expectEachTagged(HOST, names, { live: 1, saved: 1 }), "rules without exactly one live and one saved copy").toEqual({});
    if (legacy)
      expect(await hostSh(HOST, "iptables-legacy-save -t raw 2>/dev/null | grep -c unmanaged-legacy"), "the legacy rule is untouched").toBe(
        "1\n",
      );

    await Promise.all(made.map((m, i) => expectNoDrift("NotrackRule", { id: m.id, outs: m.outs as Props }, checked[i])));

    // Destroy in two waves, so that a later batch parses what the earlier one left.
    const half = Math.floor(rules / 2);
    await Promise.all(made.slice(0, half).map((m) => destroy("NotrackRule", { id: m.id, outs: m.outs as Props })));
    expect(await expectEachTagged(HOST, names.slice(half), { live: 1, saved: 1 }), "the second half after the first wave").toEqual({});
    expect(await expectEachTagged(HOST, names.slice(0, half), { live: 0, saved: 0 }), "the first half after its destroy").toEqual({});
    await Promise.all(made.slice(half).map((m) => destroy("NotrackRule", { id: m.id, outs: m.outs as Props })));
    expect(await snapshot(HOST)).toBe(before);
  });

  it("ModuleBlacklist and ConntrackHelperSetting: no false drift, nothing parsed from stderr", async () => {
    const stale = "/etc/modprobe.d/no_conntrack_helper.conf";
    await hostSh(HOST, `printf 'options nf_conntrack nf_conntrack_helper=0\\n' > ${stale}`);
    const before = await snapshot(HOST);
    installShims(HOST, ALL_TOOLS);
    setNoise(HOST, true);

    const bl = (await h("ModuleBlacklist").check({}, { connection: connectionOf(HOST), modules: LAB_MODULES, initramfs: "never" })).inputs;
    const hs = (await h("ConntrackHelperSetting").check({}, { connection: connectionOf(HOST), fileName: "no_conntrack_helper.conf" }))
      .inputs;
    const madeBl = await create("ModuleBlacklist", bl);
    const madeHs = await create("ConntrackHelperSetting", hs);
    await expectNoDrift("ModuleBlacklist", madeBl, bl);
    await expectNoDrift("ConntrackHelperSetting", madeHs, hs);
    await destroy("ConntrackHelperSetting", madeHs);
    await destroy("ModuleBlacklist", madeBl);
    expect(await snapshot(HOST)).toBe(before);
  });
});

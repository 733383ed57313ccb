import { describe, expect, it } from "vitest";
import { renderManagedFile } from "../../../provider/resources/module-blacklist/managed-file";
import type { InitramfsFacts } from "../../../provider/resources/module-blacklist/observation";
import {
  describeBlockedUnload,
  detectDrift,
  liveModules,
  moduleStatuses,
  overrideNotes,
  plan,
  planDelete,
  warningsOf,
  type Desired,
} from "../../../provider/resources/module-blacklist/plan";
import { NAT_LOADED, available, fileObs, observation } from "./fixtures";

const FILE = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
const desired = (over: Partial<Desired> = {}): Desired => ({
  modules: ["nf_conntrack"],
  mode: "disable",
  unload: false,
  initramfs: "auto",
  fileName: "pulumi-conntrack-blacklist.conf",
  ...over,
});
const noRecord = { replaced: null, initramfsRegenerated: false };
const initramfs = (over: Partial<InitramfsFacts> = {}): InitramfsFacts => ({
  tool: "update-initramfs",
  image: "/boot/initrd.img-5.10.0-32-amd64",
  imageExists: true,
  imageMtime: 2000,
  listed: true,
  contains: [],
  hasFile: false,
  ...over,
});

describe("plan: the file", () => {
  it("writes the rendering when the file is absent, and nothing when it is already right", () => {
    const p = plan(observation({ moduleFacts: available("nf_conntrack") }), desired());
    expect(p.refusal).toBeUndefined();
    expect(p.path).toBe(FILE);
    expect(p.write).toBe(renderManagedFile(["nf_conntrack"], "disable", null));
    expect(p.record).toEqual(noRecord);
    expect(plan(observation({ moduleFacts: available("nf_conntrack"), file: fileObs(p.write!) }), desired(), noRecord).write).toBeNull();
  });

  it("records a foreign file it takes over, keeps it in the file, and keeps the first record on update", () => {
    const foreign = fileObs("blacklist pcspkr", "600");
    const p = plan(observation({ file: foreign }), desired());
    const replaced = { base64: Buffer.from("blacklist pcspkr").toString("base64"), mode: "600" };
    expect(p.record.replaced).toEqual(replaced);
    expect(p.write).toBe(renderManagedFile(["nf_conntrack"], "disable", replaced));
    // Someone overwrote the managed file later: the pre-management file stays the one to restore.
    expect(plan(observation({ file: fileObs("other") }), desired(), { replaced, initramfsRegenerated: false }).record.replaced).toEqual(
      replaced,
    );
  });

  it("adopts its own file left by a failed create, with the file it had replaced", () => {
    const replaced = { base64: "eA==", mode: "644" };
    const leftover = fileObs(renderManagedFile(["nf_conntrack"], "disable", replaced));
    const p = plan(observation({ file: leftover }), desired({ modules: ["nf_conntrack", "nf_nat"] }));
    expect(p.record.replaced).toEqual(replaced);
    expect(p.write).toBe(renderManagedFile(["nf_conntrack", "nf_nat"], "disable", replaced));
  });

  it("refuses a symlink or directory at the path, and a foreign file too large to keep", () => {
    expect(plan(observation({ file: { kind: "other", what: "symlink" } }), desired()).refusal).toMatchObject({
      error: "conflict",
      message: expect.stringContaining("is a symlink"),
    });
    expect(plan(observation({ file: fileObs("x".repeat(70_000)) }), desired()).refusal).toMatchObject({
      error: "conflict",
      hint: expect.stringContaining("another fileName"),
    });
    expect(plan(observation({ file: { kind: "unreadable" } }), desired()).refusal).toMatchObject({ error: "unsupported" });
  });
});

describe("plan: built-in modules and kernels without modules", () => {
  it("succeeds for a built-in module with a loud note naming the kernel command line, and reports it not effective", () => {
    const obs = observation({ moduleFacts: [{ name: "nf_conntrack", builtIn: true, available: false }] });
    const p = plan(obs, desired());
    expect(p.refusal).toBeUndefined();
    expect(p.write).not.toBeNull();
    expect(p.notes[0]).toMatch(/^NOT EFFECTIVE for nf_conntrack: built into kernel 5\.10\.0-32-amd64/);
    expect(p.notes[0]).toContain("module_blacklist=nf_conntrack");
    const written = observation({ moduleFacts: [{ name: "nf_conntrack", builtIn: true }], file: fileObs(p.write!) });
    expect(moduleStatuses(written, desired())).toEqual([
      { name: "nf_conntrack", loaded: false, builtIn: true, blocked: true, effective: false },
    ]);
  });

  it("refuses unload: true when a module is built in, before changing anything", () => {
    const obs = observation({ moduleFacts: [{ name: "nf_conntrack", builtIn: true }, { name: "nf_nat" }] });
    const p = plan(obs, desired({ modules: ["nf_conntrack", "nf_nat"], unload: true }));
    expect(p.refusal).toMatchObject({
      error: "unsupported",
      message: expect.stringContaining("cannot unload nf_conntrack: built into kernel"),
      hint: expect.stringContaining("module_blacklist=nf_conntrack"),
    });
  });

  it("says nothing is effective on a kernel that loads no modules", () => {
    const obs = observation({
      modulesSupported: false,
      builtinListAvailable: false,
      depListAvailable: false,
      moduleFacts: [{ name: "nf_nat", available: false }],
    });
    const p = plan(obs, desired({ modules: ["nf_nat"] }));
    expect(p.notes.join("\n")).toMatch(/loads no modules at all/);
    expect(moduleStatuses({ ...obs, file: fileObs(p.write!) }, desired({ modules: ["nf_nat"] }))[0]).toMatchObject({
      blocked: true,
      effective: false,
    });
  });

  it("flags a module the kernel does not have (a typo), and the weak blacklist mode", () => {
    const p = plan(
      observation({ moduleFacts: [{ name: "nf_conntrak", available: false }] }),
      desired({ modules: ["nf_conntrak"], mode: "blacklist" }),
    );
    expect(p.notes.join("\n")).toContain("nf_conntrak: no such module in kernel");
    expect(p.notes.join("\n")).toContain('mode "blacklist" is weak');
  });
});

describe("plan: NotrackRules on the host", () => {
  const rules = [
    {
      source: "iptables-nft-save",
      rule: '-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "pulumi-conntrack:dns" -j CT --notrack',
    },
  ];
  it.each([["nf_conntrack"], ["nf_defrag_ipv4"], ["xt_CT"], ["nft_ct"], ["iptable_raw"]])(
    "refuses to keep out %s and names the rules",
    (m) => {
      const p = plan(observation({ notrackRules: rules }), desired({ modules: [m, "nf_nat"].sort() }));
      expect(p.refusal).toMatchObject({ error: "conflict", message: expect.stringContaining(`need ${m}`) });
      expect(p.refusal!.message).toContain("pulumi-conntrack:dns");
      expect(p.guardNotrack).toBe(true);
    },
  );

  it("lets modules NOTRACK does not need through, without the guard", () => {
    const p = plan(observation({ notrackRules: rules }), desired({ modules: ["iptable_nat", "nf_nat"] }));
    expect(p.refusal).toBeUndefined();
    expect(p.guardNotrack).toBe(false);
  });
});

describe("plan: initramfs", () => {
  const mods = available("nf_conntrack");
  it("auto regenerates when a listed module is inside the image, or the image holds an older copy of the file", () => {
    expect(plan(observation({ moduleFacts: mods, initramfs: initramfs({ contains: ["nf_conntrack"] }) }), desired()).regenerate).toEqual({
      tool: "update-initramfs",
      why: "nf_conntrack is inside /boot/initrd.img-5.10.0-32-amd64",
    });
    expect(
      plan(observation({ moduleFacts: mods, initramfs: initramfs({ hasFile: true, tool: "dracut" }) }), desired()).regenerate,
    ).toMatchObject({ tool: "dracut" });
    const p = plan(observation({ moduleFacts: mods, initramfs: initramfs() }), desired());
    expect(p.regenerate).toBeNull();
    expect(p.record.initramfsRegenerated).toBe(false);
  });

  it("regenerates only when the file changes, or when the image is older than the file (an earlier attempt failed)", () => {
    const right = renderManagedFile(["nf_conntrack"], "disable", null);
    const ir = initramfs({ contains: ["nf_conntrack"], imageMtime: 2000 });
    expect(
      plan(observation({ moduleFacts: mods, initramfs: ir, file: fileObs(right, "644", 1500) }), desired(), noRecord).regenerate,
    ).toBeNull();
    const stale = plan(observation({ moduleFacts: mods, initramfs: ir, file: fileObs(right, "644", 2500) }), desired(), noRecord);
    expect(stale.write).toBeNull();
    expect(stale.regenerate).not.toBeNull();
    expect(stale.record.initramfsRegenerated).toBe(true);
  });

  it("always regenerates on a change, and refuses without a tool or an image", () => {
    expect(plan(observation({ moduleFacts: mods, initramfs: initramfs() }), desired({ initramfs: "always" })).regenerate).toMatchObject({
      tool: "update-initramfs",
    });
    expect(plan(observation({ initramfs: initramfs({ tool: null }) }), desired({ initramfs: "always" })).refusal).toMatchObject({
      error: "unsupported",
      hint: expect.stringContaining("install initramfs-tools or dracut"),
    });
    expect(
      plan(observation({ initramfs: initramfs({ imageExists: false, imageMtime: null }) }), desired({ initramfs: "always" })).refusal,
    ).toMatchObject({ error: "unsupported" });
  });

  it("never regenerates, and warns when early boot would still load a module", () => {
    const p = plan(
      observation({ moduleFacts: mods, initramfs: initramfs({ contains: ["nf_conntrack"] }) }),
      desired({ initramfs: "never" }),
    );
    expect(p.regenerate).toBeNull();
    expect(p.notes).toContain(
      'initramfs: nf_conntrack is inside /boot/initrd.img-5.10.0-32-amd64, which loads before /etc/modprobe.d is read, and initramfs is "never": early boot may still load it',
    );
  });
});

describe("plan: unload", () => {
  const nat = (extra: Partial<Desired> = {}) =>
    plan(
      observation({ loadedList: NAT_LOADED, moduleFacts: available("iptable_nat", "nf_nat", "nf_conntrack") }),
      desired({ modules: ["iptable_nat", "nf_conntrack", "nf_nat"], unload: true, ...extra }),
    );

  it("plans the dependency order, still writing the file first", () => {
    const p = nat();
    expect(p.unload).toMatchObject({ order: ["iptable_nat", "nf_nat", "nf_conntrack"], blocked: [] });
    expect(p.write).not.toBeNull();
  });

  it("refuses the whole change when the unload is blocked (no file left behind: issue 12, item 4), and words it with holders and refcnt", () => {
    const obs = observation({ loadedList: NAT_LOADED, moduleFacts: available("nf_conntrack") });
    const p = plan(obs, desired({ unload: true }));
    expect(p.refusal).toMatchObject({
      error: "conflict",
      command: "modprobe -r nf_conntrack",
      hint: "remove first, in this order, or add to modules: iptable_nat, nf_nat",
    });
    expect(p.refusal!.message).toContain("cannot unload nf_conntrack: in use\n    nf_conntrack: held by nf_nat (refcnt 1)");
    expect(p.refusal!.message).toContain(
      "Nothing was changed: /etc/modprobe.d/pulumi-conntrack-blacklist.conf was not written and no module was unloaded.",
    );
    expect(p.unload!.blocked).toHaveLength(1);
    const d = describeBlockedUnload(p.unload!, obs.loaded);
    expect(d.message).toBe("cannot unload nf_conntrack: in use\n    nf_conntrack: held by nf_nat (refcnt 1)");
    expect(d.hint).toBe("remove first, in this order, or add to modules: iptable_nat, nf_nat");
  });

  it("leaves loaded modules alone with unload: false, and says so", () => {
    const p = nat({ unload: false });
    expect(p.unload).toBeNull();
    expect(p.notes.join("\n")).toContain("iptable_nat, nf_conntrack, nf_nat are loaded and stay loaded (unload is false)");
  });
});

describe("outputs and drift", () => {
  const content = renderManagedFile(["nf_conntrack", "nf_nat"], "disable", null);
  const stored = desired({ modules: ["nf_conntrack", "nf_nat"] });

  it("is not effective where another file's install line comes first", () => {
    const obs = observation({
      moduleFacts: available("nf_conntrack", "nf_nat"),
      file: fileObs(content),
      config: {
        install: new Map([
          ["nf_conntrack", "/sbin/modprobe --ignore-install nf_conntrack"],
          ["nf_nat", "/bin/false"],
        ]),
        blacklist: new Set(["nf_conntrack", "nf_nat"]),
      },
    });
    expect(moduleStatuses(obs, stored).map((s) => s.effective)).toEqual([false, true]);
    expect(overrideNotes(obs, stored)).toEqual([
      expect.stringMatching(/^NOT EFFECTIVE for nf_conntrack: .*install nf_conntrack \/sbin\/modprobe --ignore-install nf_conntrack/),
    ]);
  });

  it("finds nothing on an untouched host", () => {
    const obs = observation({ moduleFacts: available("nf_conntrack", "nf_nat"), file: fileObs(content) });
    expect(detectDrift(obs, stored, noRecord)).toEqual({ findings: [], repairable: false });
    expect(liveModules(obs, "disable")).toEqual(["nf_conntrack", "nf_nat"]);
  });

  it("reports removal, hand edits (lost and added modules) and a module loaded again", () => {
    expect(detectDrift(observation(), stored, noRecord)).toEqual({ findings: [`${FILE} was removed`], repairable: true });
    const edited = content.replace("install nf_nat /bin/false\n", "") + "install foo /bin/false\nblacklist foo\n";
    const obs = observation({ file: fileObs(edited), loadedList: NAT_LOADED, moduleFacts: available("nf_conntrack", "nf_nat") });
    expect(liveModules(obs, "disable")).toEqual(["foo", "nf_conntrack"]);
    const d = detectDrift(obs, { ...stored, unload: true }, noRecord);
    expect(d.findings).toEqual([
      `${FILE} was edited by hand; no longer keeps out nf_nat; also keeps out foo`,
      "nf_conntrack is loaded again (insmod, or loaded before the file): the next update unloads it",
      "nf_nat is loaded again (insmod, or loaded before the file): the next update unloads it",
    ]);
    expect(d.repairable).toBe(true);
  });

  it("does not ask for a repair it cannot make: a loaded module with unload: false", () => {
    const obs = observation({ file: fileObs(content), loadedList: NAT_LOADED, moduleFacts: available("nf_conntrack", "nf_nat") });
    expect(detectDrift(obs, stored, noRecord)).toEqual({
      findings: [
        "nf_conntrack is loaded (unload is false, so it is left as it is)",
        "nf_nat is loaded (unload is false, so it is left as it is)",
      ],
      repairable: false,
    });
  });
});

describe("planDelete", () => {
  const ours = fileObs(renderManagedFile(["nf_conntrack"], "disable", null));
  const stored = { fileName: "pulumi-conntrack-blacklist.conf", initramfs: "auto" as const };

  it("removes its own file, restores a replaced one, and leaves anything else alone", () => {
    expect(planDelete(observation({ file: ours }), stored, noRecord)).toEqual({ file: { kind: "remove" }, regenerate: null });
    const replaced = { base64: "eA==", mode: "600" };
    expect(planDelete(observation({ file: ours }), stored, { replaced, initramfsRegenerated: false }).file).toEqual({
      kind: "restore",
      replaced,
    });
    const carried = fileObs(renderManagedFile(["nf_conntrack"], "disable", replaced));
    expect(planDelete(observation({ file: carried }), stored, noRecord).file).toEqual({ kind: "restore", replaced });
    expect(planDelete(observation({ file: fileObs("blacklist mine\n") }), stored, noRecord).file).toMatchObject({ kind: "keep" });
    expect(planDelete(observation(), stored, noRecord).file).toMatchObject({ kind: "keep", why: "already gone" });
    expect(planDelete(observation({ file: { kind: "other", what: "directory" } }), stored, noRecord).file).toMatchObject({ kind: "keep" });
  });

  it("regenerates the initramfs when create did or the image holds the file, unless never", () => {
    const ir = initramfs();
    expect(
      planDelete(observation({ file: ours, initramfs: ir }), stored, { replaced: null, initramfsRegenerated: true }).regenerate,
    ).toMatchObject({ tool: "update-initramfs" });
    expect(planDelete(observation({ file: ours, initramfs: initramfs({ hasFile: true }) }), stored, noRecord).regenerate).not.toBeNull();
    expect(planDelete(observation({ file: ours, initramfs: ir }), stored, noRecord).regenerate).toBeNull();
    expect(
      planDelete(
        observation({ file: ours, initramfs: ir }),
        { ...stored, initramfs: "never" },
        { replaced: null, initramfsRegenerated: true },
      ).regenerate,
    ).toBeNull();
    // A retried delete: the file is gone but the image still holds it.
    expect(
      planDelete(observation({ initramfs: initramfs({ hasFile: true }) }), stored, { replaced: null, initramfsRegenerated: true }),
    ).toMatchObject({ file: { kind: "keep" }, regenerate: { tool: "update-initramfs" } });
    expect(planDelete(observation({ initramfs: ir }), stored, { replaced: null, initramfsRegenerated: true }).regenerate).toBeNull();
  });
});

describe("honest outputs (issue 12, item 7) and warnings (item 8)", () => {
  it("blacklist mode is never effective (modprobe by name still loads the module), and says so as a warning", () => {
    const obs = observation({
      moduleFacts: available("nf_conntrack"),
      file: fileObs(renderManagedFile(["nf_conntrack"], "blacklist", null)),
    });
    expect(moduleStatuses(obs, desired({ mode: "blacklist" }))).toEqual([
      { name: "nf_conntrack", loaded: false, builtIn: false, blocked: true, effective: false },
    ]);
    const w = warningsOf(plan(obs, desired({ mode: "blacklist" }), noRecord).notes);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^mode "blacklist" is weak/);
    // disable mode on the same host: effective, no warning.
    const strong = observation({
      moduleFacts: available("nf_conntrack"),
      file: fileObs(renderManagedFile(["nf_conntrack"], "disable", null)),
      config: null,
    });
    expect(moduleStatuses(strong, desired())[0].effective).toBe(true);
    expect(warningsOf(plan(strong, desired(), noRecord).notes)).toEqual([]);
  });

  it('initramfs "never" with the module inside the initramfs: not effective, and a warning', () => {
    const obs = observation({
      moduleFacts: available("nf_conntrack", "crc16"),
      initramfs: initramfs({ contains: ["nf_conntrack"] }),
      file: fileObs(renderManagedFile(["crc16", "nf_conntrack"], "disable", null)),
      config: null,
    });
    const d = desired({ modules: ["crc16", "nf_conntrack"], initramfs: "never" });
    expect(moduleStatuses(obs, d).map((s) => [s.name, s.effective])).toEqual([
      ["crc16", true],
      ["nf_conntrack", false],
    ]);
    const w = warningsOf(plan(obs, d, noRecord).notes);
    expect(w).toEqual([expect.stringMatching(/^initramfs: nf_conntrack is inside .* "never": early boot may still load it/)]);
    // With "auto", the file goes into the initramfs: effective.
    expect(moduleStatuses(obs, { ...d, initramfs: "auto" }).every((s) => s.effective)).toBe(true);
  });

  it("built-in modules are warned about; informational notes are not warnings", () => {
    const obs = observation({ moduleFacts: [{ name: "nf_conntrack", builtIn: true, loaded: false }] });
    const notes = plan(obs, desired({ unload: false }), noRecord).notes;
    expect(warningsOf(notes)).toEqual([expect.stringMatching(/^NOT EFFECTIVE for nf_conntrack: built into kernel/)]);
    const info = plan(observation({ moduleFacts: available("nf_conntrack") }), desired({ unload: true }), noRecord).notes;
    expect(info.length).toBeGreaterThan(0);
    expect(warningsOf(info)).toEqual([]);
  });

  it("names the unused holders an unload removes first (issue 12, item 10)", () => {
    const loaded = [
      { name: "xt_MASQUERADE", state: "live", refcnt: 0, holders: [] },
      { name: "nf_nat", state: "live", refcnt: 1, holders: ["xt_MASQUERADE"] },
      { name: "nf_conntrack", state: "live", refcnt: 2, holders: ["nf_nat", "xt_MASQUERADE"] },
    ];
    const p = plan(observation({ loadedList: loaded, moduleFacts: available("nf_conntrack") }), desired({ unload: true }));
    expect(p.refusal).toBeUndefined();
    expect(p.unload!.order).toEqual(["xt_MASQUERADE", "nf_conntrack"]);
    expect(p.notes.join("\n")).toContain("unload also removes xt_MASQUERADE first: it holds nf_conntrack and nothing uses it (refcnt 0)");
  });
});

describe("plan: ConntrackHelperRules on the host", () => {
  const ftp = {
    source: "iptables-legacy-save",
    rule: '-A PREROUTING -p tcp -m tcp --dport 21 -m comment --comment "pulumi-conntrack:helper:ftp" -j CT --helper ftp',
  };
  const sip = { source: "nft", rule: 'udp dport 5060 ct helper set "sip-udp" comment "pulumi-conntrack:helper:sip"' };

  it("refuses to keep out a helper module a rule uses, naming the rules and the way out", () => {
    const p = plan(observation({ notrackRules: [ftp, sip] }), desired({ modules: ["nf_conntrack_ftp", "nf_nat"] }));
    expect(p.refusal).toMatchObject({
      error: "conflict",
      message: expect.stringContaining("need nf_conntrack_ftp"),
      hint: expect.stringContaining("delete the ConntrackHelperRule"),
    });
    expect(p.refusal!.message).toContain("pulumi-conntrack:helper:ftp");
    expect(p.refusal!.message).not.toContain("pulumi-conntrack:helper:sip");
    expect(p.refusal!.hint).toContain("remove nf_conntrack_ftp from modules");
    expect(p.guardHelpers).toEqual(["nf_conntrack_ftp"]);
    expect(p.guardNotrack).toBe(false);
  });

  it("lets a helper module no rule uses through, with the guard under the lock", () => {
    const p = plan(observation({ notrackRules: [sip] }), desired({ modules: ["nf_conntrack_ftp"] }));
    expect(p.refusal).toBeUndefined();
    expect(p.guardHelpers).toEqual(["nf_conntrack_ftp"]);
    expect(plan(observation({ notrackRules: [] }), desired({ modules: ["nf_conntrack_sip"] })).refusal).toBeUndefined();
  });

  it("does not guard modules that hold no helper", () => {
    expect(plan(observation({ notrackRules: [ftp] }), desired({ modules: ["nf_nat"] })).guardHelpers).toEqual([]);
  });
});

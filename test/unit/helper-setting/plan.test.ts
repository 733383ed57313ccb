import { describe, expect, it } from "vitest";
import { managedFileContent } from "../../../provider/resources/helper-setting/managed-file";
import {
  EXISTING_FLOWS_NOTE,
  REMOVED_NOTE,
  describeChange,
  loadValueWithoutManagedFile,
  plan,
  planDelete,
  recordAtCreate,
  toggleOf,
  type Change,
  type Recorded,
} from "../../../provider/resources/helper-setting/plan";
import type { HelperObservation } from "../../../provider/resources/helper-setting/observe";
import { DEFAULT_HELPER_FILE_NAME, type HelperSettingDesired } from "../../../provider/resources/helper-setting/schema";
import { HOSTS, file, host, modprobeLine, type HostShape } from "./fixtures";

const PATH = `/etc/modprobe.d/${DEFAULT_HELPER_FILE_NAME}`;
const C0 = managedFileContent(0);
const C1 = managedFileContent(1);
const off: HelperSettingDesired = { enabled: false, persist: true, fileName: DEFAULT_HELPER_FILE_NAME };
const on: HelperSettingDesired = { ...off, enabled: true };
const ADOPTABLE = "# by hand, see ticket OPS-1\noptions nf_conntrack nf_conntrack_helper=0\n";
const FOREIGN = "options nf_conntrack hashsize=262144 nf_conntrack_helper=0\n";
const NOTHING: Recorded = { previousLiveValue: null, previousModuleParameter: null, previousFileContent: null, previousFileMode: null };

const kinds = (cs: Change[]) => cs.map((c) => c.kind);

/** The observation of a host after `changes` were made on it. */
function simulate(o: HelperObservation, changes: Change[]): HelperObservation {
  const after = { ...o };
  for (const c of changes) {
    if (c.kind === "set-live") after.live = c.to;
    if (c.kind === "set-module-parameter") after.moduleParameter = c.to;
    if (c.kind === "write-file") after.file = file(c.content);
    if (c.kind === "remove-file") after.file = { kind: "absent" };
  }
  return after;
}

describe("toggle detection: by what the host shows, the version only as a last resort", () => {
  it.each([
    ["k618builtin", "removed", "builtin"],
    ["k61loaded", "removed", "loaded"],
    ["k61notLoaded", "removed", "not-loaded"],
    ["k60noModinfo", "removed", "not-loaded"],
    ["vendor514removed", "removed", "loaded"],
    ["k510loaded0", "present", "loaded"],
    ["k510loaded1", "present", "loaded"],
    ["k510notLoaded", "present", "not-loaded"],
    ["k510builtin1", "present", "builtin"],
    ["k44notLoaded", "present", "not-loaded"],
    ["k54absent", "present", "absent"],
    ["k32loaded", "too-old", "loaded"],
    ["weird", "undetermined", "not-loaded"],
  ] as const)("%s -> toggle %s, nf_conntrack %s", (name, toggle, module) => {
    const o = host(HOSTS[name]);
    expect(toggleOf(o)).toBe(toggle);
    expect(plan(o, off).module).toBe(module);
  });

  it("trusts the files over the version in both directions", () => {
    // A 6.x-numbered vendor kernel that still has the sysctl: present.
    expect(toggleOf(host({ kernel: "6.2.0-vendor", nf: "loaded", live: 0 }))).toBe("present");
    // modinfo saying the module has no toggle beats a 5.x version.
    expect(toggleOf(host({ kernel: "5.15.0", nf: "module", modinfo: false }))).toBe("removed");
    // The module parameter alone (sysctl unreadable) is enough.
    expect(toggleOf(host({ kernel: "5.10.0", nf: "loaded", param: "N" }))).toBe("present");
  });
});

interface Row {
  name: string;
  host: HostShape;
  desired: HelperSettingDesired;
  recorded?: Recorded;
  changes: Change["kind"][];
  refusal?: "unsupported" | "conflict";
  persistence?: string;
}

const rows: Row[] = [
  // Toggle removed (>= 6.0)
  { name: "6.18 built in, off, no file: nothing to do", host: HOSTS.k618builtin, desired: off, changes: [], persistence: "not-applicable" },
  {
    name: "6.18 built in, off, persist false: nothing to do",
    host: HOSTS.k618builtin,
    desired: { ...off, persist: false },
    changes: [],
    persistence: "not-applicable",
  },
  { name: "6.18 built in, on: refused", host: HOSTS.k618builtin, desired: on, changes: [], refusal: "unsupported" },
  { name: "6.1 loaded, on: refused", host: HOSTS.k61loaded, desired: on, changes: [], refusal: "unsupported" },
  { name: "6.1 not loaded, on: refused", host: HOSTS.k61notLoaded, desired: on, changes: [], refusal: "unsupported" },
  {
    name: "6.1 loaded, off, stale managed file: removed",
    host: { ...HOSTS.k61loaded, file: file(C0) },
    desired: off,
    changes: ["remove-file"],
  },
  {
    name: "6.1 loaded, off, stale enabled line: removed",
    host: { ...HOSTS.k61loaded, file: file(C1) },
    desired: off,
    changes: ["remove-file"],
  },
  {
    name: "6.1 not loaded, off, adoptable file: taken over and removed",
    host: { ...HOSTS.k61notLoaded, file: file(ADOPTABLE) },
    desired: off,
    changes: ["remove-file"],
  },
  {
    name: "6.1, off, foreign settings at create: refused",
    host: { ...HOSTS.k61loaded, file: file(FOREIGN) },
    desired: off,
    changes: [],
    refusal: "conflict",
  },
  {
    name: "6.1, off, foreign settings at update: removed",
    host: { ...HOSTS.k61loaded, file: file(FOREIGN) },
    desired: off,
    recorded: NOTHING,
    changes: ["remove-file"],
  },
  // Toggle present, loaded
  {
    name: "5.10 on->off, persist: live, parameter and file",
    host: HOSTS.k510loaded1,
    desired: off,
    changes: ["set-live", "set-module-parameter", "write-file"],
    persistence: "modprobe.d",
  },
  {
    name: "5.10 already off with file: nothing",
    host: { ...HOSTS.k510loaded0, file: file(C0) },
    desired: off,
    changes: [],
    persistence: "modprobe.d",
  },
  {
    name: "5.10 off->on, persist false: live and file removal",
    host: { ...HOSTS.k510loaded0, file: file(C0) },
    desired: { ...on, persist: false },
    changes: ["set-live", "set-module-parameter", "remove-file"],
    persistence: "not-persisted",
  },
  {
    name: "5.10 file edited to 1: rewritten",
    host: { ...HOSTS.k510loaded0, file: file(C1) },
    desired: off,
    recorded: NOTHING,
    changes: ["write-file"],
    persistence: "modprobe.d",
  },
  {
    name: "5.10 adoptable file at create: rewritten",
    host: { ...HOSTS.k510loaded0, file: file(ADOPTABLE) },
    desired: off,
    changes: ["write-file"],
  },
  {
    name: "5.10 foreign settings at create: refused",
    host: { ...HOSTS.k510loaded0, file: file(FOREIGN) },
    desired: off,
    changes: [],
    refusal: "conflict",
  },
  {
    name: "5.10 symlink at the path: refused",
    host: { ...HOSTS.k510loaded0, file: { kind: "other", what: "symlink" } },
    desired: off,
    changes: [],
    refusal: "conflict",
  },
  {
    name: "5.10 directory at the path: refused",
    host: { ...HOSTS.k510loaded0, file: { kind: "other", what: "not a regular file" } },
    desired: off,
    changes: [],
    refusal: "conflict",
  },
  {
    name: "5.10 unreadable file: refused",
    host: { ...HOSTS.k510loaded0, file: { kind: "unreadable" } },
    desired: off,
    changes: [],
    refusal: "conflict",
  },
  // Toggle present, not loaded
  {
    name: "5.10 not loaded, persist: file only",
    host: HOSTS.k510notLoaded,
    desired: off,
    changes: ["write-file"],
    persistence: "modprobe.d",
  },
  {
    name: "5.10 not loaded, persist false: nothing possible",
    host: HOSTS.k510notLoaded,
    desired: { ...off, persist: false },
    changes: [],
    persistence: "not-persisted",
  },
  {
    name: "4.4 not loaded (default on), off: file",
    host: HOSTS.k44notLoaded,
    desired: off,
    changes: ["write-file"],
    persistence: "modprobe.d",
  },
  {
    name: "5.4 without nf_conntrack: file for later",
    host: HOSTS.k54absent,
    desired: off,
    changes: ["write-file"],
    persistence: "modprobe.d",
  },
  // Toggle present, built in
  {
    name: "5.10 built in, on->off: live only",
    host: HOSTS.k510builtin1,
    desired: off,
    changes: ["set-live", "set-module-parameter"],
    persistence: "impossible-builtin",
  },
  {
    name: "5.10 built in, stale file: removed",
    host: { ...HOSTS.k510builtin1, file: file(C0) },
    desired: off,
    changes: ["set-live", "set-module-parameter", "remove-file"],
    persistence: "impossible-builtin",
  },
  {
    name: "5.10 built in, already on, persist false",
    host: HOSTS.k510builtin1,
    desired: { ...on, persist: false },
    changes: [],
    persistence: "not-persisted",
  },
  // No toggle
  { name: "3.2, off: refused", host: HOSTS.k32loaded, desired: off, changes: [], refusal: "unsupported" },
  { name: "3.2, on: refused", host: HOSTS.k32loaded, desired: on, changes: [], refusal: "unsupported" },
  { name: "unparseable release: refused", host: HOSTS.weird, desired: off, changes: [], refusal: "unsupported" },
];

describe("plan: kernel/module states x inputs x persisted states", () => {
  it.each(rows)("$name", (r) => {
    const p = plan(host(r.host), r.desired, r.recorded);
    expect(kinds(p.changes)).toEqual(r.changes);
    expect(p.refusal?.error).toBe(r.refusal);
    if (r.persistence) expect(p.persistence).toBe(r.persistence);
    // The host after the planned changes needs none: the plan converges in one step.
    if (!r.refusal) expect(plan(simulate(host(r.host), p.changes), r.desired, p.record).changes).toEqual([]);
  });

  it("writes exactly the managed content, with the header, for the wanted value", () => {
    const p = plan(host(HOSTS.k510loaded1), off);
    expect(p.changes).toEqual([
      { kind: "set-live", from: 1, to: 0 },
      { kind: "set-module-parameter", from: "Y", to: "N" },
      { kind: "write-file", path: PATH, content: C0, why: expect.any(String) },
    ]);
    expect(C0.split("\n")[0]).toMatch(/^# Managed by pulumi-conntrack/);
    expect(C0).toContain("\noptions nf_conntrack nf_conntrack_helper=0\n");
    expect(plan(host(HOSTS.k510loaded0), on).changes.find((c) => c.kind === "write-file")).toMatchObject({ content: C1 });
  });

  it("is idempotent: the host after the planned changes needs none", () => {
    const after = host({ ...HOSTS.k510loaded0, file: file(C0) });
    expect(plan(after, off, recordAtCreate(host(HOSTS.k510loaded1))).changes).toEqual([]);
    expect(plan(host(HOSTS.k618builtin), off, NOTHING).changes).toEqual([]);
  });

  it("uses the file name it is given", () => {
    const p = plan(host(HOSTS.k510notLoaded), { ...off, fileName: "10-helper.conf" });
    expect(p.changes).toMatchObject([{ kind: "write-file", path: "/etc/modprobe.d/10-helper.conf" }]);
  });
});

describe("plan: what it says", () => {
  it("removed toggle, off: success that says automatic assignment does not exist here", () => {
    const p = plan(host(HOSTS.k618builtin), off);
    expect(p.refusal).toBeUndefined();
    expect(p.toggle).toBe("removed");
    expect(p.notes).toEqual([REMOVED_NOTE]);
    expect(REMOVED_NOTE).toMatch(/does not exist on this kernel/);
    expect(p.warnings).toEqual([]);
  });

  it("removed toggle, on: the refusal names CT --helper as the only way", () => {
    const p = plan(host(HOSTS.k61loaded), on);
    expect(p.refusal).toMatchObject({ error: "unsupported" });
    expect(p.refusal!.message).toMatch(/6\.1\.0-28-amd64.*removed in Linux 6\.0/);
    expect(p.refusal!.hint).toMatch(/only way.*-j CT --helper/);
  });

  it("removed toggle, on: the refusal names ConntrackHelperRule, the resource that writes those rules", () => {
    const p = plan(host(HOSTS.k61loaded), on);
    expect(p.refusal!.hint).toMatch(/add a ConntrackHelperRule for each helper really needed/);
  });

  it("removed toggle: a stale line is removed and the reason says the kernel ignores it", () => {
    const p = plan(host({ ...HOSTS.k61loaded, file: file(C0) }), off);
    const c = p.changes[0];
    expect(c).toMatchObject({ kind: "remove-file", path: PATH });
    expect(describeChange(c)).toMatch(/stale option.*unknown parameter.*line 3/);
  });

  it("too old and undetermined kernels get errors that say why and what to do", () => {
    const old = plan(host(HOSTS.k32loaded), off).refusal!;
    expect(old.message).toMatch(/3\.2\.0-4-amd64 is older than 3\.5/);
    expect(old.hint).toMatch(/upgrade/);
    expect(plan(host(HOSTS.weird), off).refusal!.message).toMatch(/cannot tell/);
  });

  it("present toggle: always the note about flows that already have a helper", () => {
    for (const h of [HOSTS.k510loaded0, HOSTS.k510notLoaded, HOSTS.k510builtin1, HOSTS.k44notLoaded]) {
      expect(plan(host(h), off).notes).toContain(EXISTING_FLOWS_NOTE);
    }
    expect(EXISTING_FLOWS_NOTE).toMatch(/already got a helper keep it/);
    expect(plan(host(HOSTS.k510loaded0), on).notes.join(" ")).toMatch(/secure alternative/);
  });

  it("not loaded: persisted only, and says when it takes effect", () => {
    const p = plan(host(HOSTS.k510notLoaded), off);
    expect(p.notes.join(" ")).toMatch(/not loaded.*takes effect when the module loads/);
    expect(plan(host(HOSTS.k54absent), off).notes.join(" ")).toMatch(/not available on this host/);
    expect(plan(host(HOSTS.k510notLoaded), { ...off, persist: false }).notes.join(" ")).toMatch(/persist is false/);
  });

  it("built in: says modprobe.d has no effect and names the kernel command line", () => {
    const p = plan(host(HOSTS.k510builtin1), off);
    expect(p.warnings.join(" ")).toMatch(
      /built into kernel 5\.10\.0-custom.*modprobe\.d option has no effect.*nf_conntrack\.nf_conntrack_helper=0/,
    );
    const cmd = {
      source: "cmdline" as const,
      path: "/proc/cmdline",
      line: 0,
      text: "nf_conntrack.nf_conntrack_helper=0",
      value: 0 as const,
    };
    const q = plan(host({ ...HOSTS.k510builtin1, outside: [cmd] }), off);
    expect(q.persistence).toBe("kernel-command-line");
    expect(q.warnings).toEqual([]);
    const wrongCmd = plan(
      host({ ...HOSTS.k510builtin1, outside: [{ ...cmd, text: "nf_conntrack.nf_conntrack_helper=1", value: 1 }] }),
      off,
    );
    expect(wrongCmd.persistence).toBe("impossible-builtin");
    expect(wrongCmd.warnings.some((w) => /kernel command line .*sets 1/.test(w))).toBe(true);
    const sysctl = {
      source: "sysctl" as const,
      path: "/etc/sysctl.d/90-ct.conf",
      line: 2,
      text: "net.netfilter.nf_conntrack_helper = 0",
      value: 0 as const,
    };
    expect(plan(host({ ...HOSTS.k510builtin1, outside: [sysctl] }), off).persistence).toBe("sysctl.d");
    expect(describeChange(plan(host({ ...HOSTS.k510builtin1, file: file(C0) }), off).changes[2])).toMatch(/built into the kernel/);
  });

  it("a live value that cannot be read on a loaded module is a warning, not a silent skip", () => {
    const p = plan(host({ kernel: "5.10.0", nf: "loaded", param: "N" }), off);
    expect(p.warnings.join(" ")).toMatch(/cannot be read/);
  });

  it("refuses to take over a file that holds other settings, naming the line", () => {
    const p = plan(host({ ...HOSTS.k510loaded0, file: file(`# x\n${FOREIGN}`) }), off);
    expect(p.refusal!.message).toMatch(/line 2: options nf_conntrack hashsize=262144/);
    expect(p.refusal!.hint).toMatch(/another fileName/);
  });

  it("warns which settings go when a managed file replaced by hand is rewritten", () => {
    const p = plan(host({ ...HOSTS.k510loaded0, file: file(FOREIGN) }), off, NOTHING);
    expect(p.warnings.join(" ")).toMatch(/replaced by hand.*hashsize=262144/);
    const q = plan(host({ ...HOSTS.k61loaded, file: file(FOREIGN) }), off, NOTHING);
    expect(q.warnings.join(" ")).toMatch(/replaced by hand/);
  });
});

describe("plan: what it records for delete", () => {
  it("at create: the live value, module parameter and file content found", () => {
    expect(plan(host({ ...HOSTS.k510loaded1, file: { kind: "file", content: ADOPTABLE, mode: "640" } }), off).record).toEqual({
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: ADOPTABLE,
      previousFileMode: "640",
    });
    expect(plan(host(HOSTS.k618builtin), off).record).toEqual(NOTHING);
  });

  it("at create with nf_conntrack not loaded: the value its next load would get without this resource", () => {
    // 5.10: the kernel default is 0 since 4.7; 4.4: 1 (domain.md §1).
    expect(plan(host(HOSTS.k510notLoaded), off).record).toEqual({ ...NOTHING, previousLiveValue: 0, previousModuleParameter: "N" });
    expect(plan(host(HOSTS.k44notLoaded), off).record).toEqual({ ...NOTHING, previousLiveValue: 1, previousModuleParameter: "Y" });
    // Another modprobe.d file (the last one wins), else the kernel command line, decides first.
    const other = host({
      ...HOSTS.k510notLoaded,
      outside: [modprobeLine("/etc/modprobe.d/a.conf", 0), modprobeLine("/etc/modprobe.d/z.conf", 1)],
    });
    expect(loadValueWithoutManagedFile(other)).toBe(1);
    expect(plan(other, off).record).toEqual({ ...NOTHING, previousLiveValue: 1, previousModuleParameter: "Y" });
    const cmdline = host({
      ...HOSTS.k44notLoaded,
      outside: [{ source: "cmdline", path: "/proc/cmdline", line: 0, text: "nf_conntrack.nf_conntrack_helper=0", value: 0 }],
    });
    expect(plan(cmdline, on).record).toEqual({ ...NOTHING, previousLiveValue: 0, previousModuleParameter: "N" });
    // No toggle or no version: nothing to record.
    expect(plan(host(HOSTS.k61notLoaded), off).record).toEqual(NOTHING);
    expect(loadValueWithoutManagedFile(host(HOSTS.weird))).toBeNull();
  });

  it("afterwards: carried unchanged, never overwritten by a later value", () => {
    const rec: Recorded = { previousLiveValue: 0, previousModuleParameter: "N", previousFileContent: null, previousFileMode: null };
    // Someone set 1 by hand; the repair must not record the hand-made value as the original.
    expect(plan(host(HOSTS.k510loaded1), off, rec).record).toEqual(rec);
  });

  it("never filled in by a later change: a value seen after create is ours or drift (issue 12, item 3)", () => {
    // Created while nf_conntrack was not loaded: the record is the load-time value, 0 on 5.10.
    const created = plan(host(HOSTS.k510notLoaded), off);
    expect(created.record.previousLiveValue).toBe(0);
    // The module loads (our file gives it 0), then someone sets 1 by hand; up repairs it.
    const drifted = host({ ...HOSTS.k510loaded1, file: file(C0) });
    const repair = plan(drifted, off, created.record);
    expect(kinds(repair.changes)).toEqual(["set-live", "set-module-parameter"]);
    expect(repair.record).toEqual(created.record);
    // Destroy after the repair writes back 0, never the drift value 1.
    const afterRepair = simulate(drifted, repair.changes);
    expect(planDelete(afterRepair, DEFAULT_HELPER_FILE_NAME, repair.record).changes).toEqual([
      { kind: "remove-file", path: PATH, why: "delete: there was no file before create" },
    ]);
    // Destroy without the repair (drift still live) puts 0 back too.
    expect(kinds(planDelete(drifted, DEFAULT_HELPER_FILE_NAME, repair.record).changes)).toEqual([
      "set-live",
      "set-module-parameter",
      "remove-file",
    ]);
    expect(planDelete(drifted, DEFAULT_HELPER_FILE_NAME, repair.record).changes[0]).toEqual({ kind: "set-live", from: 1, to: 0 });
    // State from before this rule (nothing recorded): the repair records nothing, delete leaves the live value alone.
    const old = plan(drifted, off, NOTHING);
    expect(old.record).toEqual(NOTHING);
    expect(kinds(planDelete(simulate(drifted, old.changes), DEFAULT_HELPER_FILE_NAME, old.record).changes)).toEqual(["remove-file"]);
  });
});

describe("plan: settings of the toggle elsewhere", () => {
  it("a later modprobe.d file with another value overrides the managed one: warned", () => {
    const p = plan(host({ ...HOSTS.k510loaded0, file: file(C0), outside: [modprobeLine("/etc/modprobe.d/zz-local.conf", 1, 4)] }), off);
    expect(p.conflicts).toEqual([
      expect.objectContaining({ path: "/etc/modprobe.d/zz-local.conf", line: 4, value: 1, contradicts: true, overridesManagedFile: true }),
    ]);
    expect(p.warnings.join(" ")).toMatch(/zz-local\.conf:4.*read after pulumi-conntrack-helper\.conf.*not 0/);
    expect(p.changes).toEqual([]);
    // The managed file does not decide what the module gets at load: persistence says so (item 8).
    expect(p.persistence).toBe("overridden-modprobe.d");
  });

  it("an earlier file with another value: warned, but ours wins", () => {
    const p = plan(host({ ...HOSTS.k510loaded0, file: file(C0), outside: [modprobeLine("/lib/modprobe.d/00-old.conf", 1)] }), off);
    expect(p.conflicts[0]).toMatchObject({ contradicts: true, overridesManagedFile: false });
    expect(p.warnings.join(" ")).toMatch(/is read later and wins/);
    expect(p.persistence).toBe("modprobe.d");
  });

  it("the same value elsewhere: reported, not warned", () => {
    const p = plan(host({ ...HOSTS.k510loaded0, file: file(C0), outside: [modprobeLine("/etc/modprobe.d/zz.conf", 0)] }), off);
    expect(p.conflicts[0]).toMatchObject({ contradicts: false, overridesManagedFile: false });
    expect(p.warnings).toEqual([]);
  });

  it("without persist, any other value is what the module gets on load", () => {
    const p = plan(host({ ...HOSTS.k510loaded0, outside: [modprobeLine("/etc/modprobe.d/00.conf", 1)] }), { ...off, persist: false });
    expect(p.warnings.join(" ")).toMatch(/gets that value whenever it loads/);
  });

  it("sysctl.d and the kernel command line are reported too", () => {
    const p = plan(
      host({
        ...HOSTS.k510loaded0,
        file: file(C0),
        outside: [
          { source: "sysctl", path: "/etc/sysctl.d/99-ct.conf", line: 1, text: "net.netfilter.nf_conntrack_helper=1", value: 1 },
          { source: "cmdline", path: "/proc/cmdline", line: 0, text: "nf_conntrack.nf_conntrack_helper=1", value: 1 },
        ],
      }),
      off,
    );
    expect(p.warnings).toHaveLength(2);
    expect(p.warnings[0]).toMatch(/99-ct\.conf:1.*systemd-sysctl/);
    expect(p.warnings[1]).toMatch(/kernel command line/);
  });

  it("where the toggle is gone, lines elsewhere are stale: warned, left alone", () => {
    const p = plan(host({ ...HOSTS.k618builtin, outside: [modprobeLine("/etc/modprobe.d/no_conntrack_helper.conf", 0)] }), off);
    expect(p.changes).toEqual([]);
    expect(p.conflicts[0].contradicts).toBe(true);
    expect(p.warnings).toEqual([expect.stringMatching(/no_conntrack_helper\.conf:1.*does not have.*left alone/)]);
  });
});

describe("planDelete: put back what was there before create", () => {
  it("restores the live value, module parameter, and removes a file that did not exist", () => {
    const rec: Recorded = { previousLiveValue: 1, previousModuleParameter: "Y", previousFileContent: null, previousFileMode: null };
    const d = planDelete(host({ ...HOSTS.k510loaded0, file: file(C0) }), DEFAULT_HELPER_FILE_NAME, rec);
    expect(d.changes).toEqual([
      { kind: "set-live", from: 0, to: 1 },
      { kind: "set-module-parameter", from: "N", to: "Y" },
      { kind: "remove-file", path: PATH, why: expect.any(String) },
    ]);
  });

  it("restores a file it took over, with its mode", () => {
    const d = planDelete(host(HOSTS.k61loaded), DEFAULT_HELPER_FILE_NAME, {
      ...NOTHING,
      previousFileContent: ADOPTABLE,
      previousFileMode: "640",
    });
    expect(d.changes).toEqual([{ kind: "write-file", path: PATH, content: ADOPTABLE, mode: "640", why: expect.any(String) }]);
    const e = planDelete(host(HOSTS.k61loaded), DEFAULT_HELPER_FILE_NAME, { ...NOTHING, previousFileContent: ADOPTABLE });
    expect(e.changes[0]).not.toHaveProperty("mode");
  });

  it("changes nothing live where the toggle is gone, or where nothing was recorded", () => {
    expect(planDelete(host(HOSTS.k618builtin), DEFAULT_HELPER_FILE_NAME, NOTHING).changes).toEqual([]);
    expect(planDelete(host(HOSTS.k510loaded1), DEFAULT_HELPER_FILE_NAME, NOTHING).changes).toEqual([]);
    expect(planDelete(host(HOSTS.k510notLoaded), DEFAULT_HELPER_FILE_NAME, { ...NOTHING, previousLiveValue: 1 }).changes).toEqual([]);
  });

  it("leaves a path that became a symlink alone, with a warning", () => {
    const d = planDelete(host({ ...HOSTS.k510loaded0, file: { kind: "other", what: "symlink" } }), DEFAULT_HELPER_FILE_NAME, NOTHING);
    expect(d.changes).toEqual([]);
    expect(d.warnings[0]).toMatch(/left alone/);
  });
});

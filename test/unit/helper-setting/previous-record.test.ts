/**
 * The host-side record of the values before a ConntrackHelperSetting's first change (issue #12,
 * item 3, "defect B"): the apply script run on this machine against a temporary directory that
 * stands in for /etc/modprobe.d (the host lock redirected there too), the observe script reading it
 * back, and the planner preferring it over what an interrupted attempt left.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { APPLY_SCRIPT, applyArgs, verify } from "../../../provider/resources/helper-setting/apply";
import { HOST_LOCK_PATH as HOST_LOCK } from "../../../provider/transport/host-lock";
import { managedFileContent } from "../../../provider/resources/helper-setting/managed-file";
import { OBSERVE_SCRIPT, parseObservation } from "../../../provider/resources/helper-setting/observe";
import {
  plan,
  planDelete,
  recordAtCreate,
  recordNotesAtCreate,
  type Change,
  type RecordAction,
} from "../../../provider/resources/helper-setting/plan";
import { PREVIOUS_RECORD_SUFFIX, previousRecordPath } from "../../../provider/common/previous-record";
import { parsePreviousRecord, type PreviousRecord } from "../../../provider/resources/helper-setting/previous-record";
import { file, host, HOSTS } from "./fixtures";

const HAND_MADE = "# no helpers, see OPS-1\noptions nf_conntrack nf_conntrack_helper=0\n";
const off = { enabled: false, persist: true, fileName: "h.conf" };

describe("the record's path", () => {
  it("is a dotfile next to the managed file, one per file name, never read by modprobe nor by this package's *.conf scans", () => {
    expect(previousRecordPath("h.conf")).toBe(`/etc/modprobe.d/.h.conf${PREVIOUS_RECORD_SUFFIX}`);
    expect(previousRecordPath("a.conf")).not.toBe(previousRecordPath("b.conf"));
    for (const n of ["h.conf", "pulumi-conntrack-helper.conf", "pulumi-conntrack-blacklist.conf"]) {
      const p = previousRecordPath(n);
      expect(p.split("/").pop()!.startsWith(".")).toBe(true);
      expect(p.endsWith(".conf")).toBe(false);
      // The fault tier holds `rm` on paths ending with the managed file's path: the record never matches.
      expect(p.endsWith(`/${n}`)).toBe(false);
      // Not a temporary file of the atomic-write convention (those are swept).
      expect(p.split("/").pop()!.startsWith(".ctk-tmp.")).toBe(false);
    }
  });
});

describe("the record's text", () => {
  const kv = (lines: string[]) => new Map(lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  it("parses what the apply script writes, and refuses what it would not", () => {
    const hex = Buffer.from(HAND_MADE).toString("hex");
    expect(parsePreviousRecord(kv(["state=present", "version=1", "kind=file", `hex=${hex}`, "mode=640", "live=1", "param=Y"]))).toEqual({
      kind: "record",
      file: { kind: "file", content: HAND_MADE, mode: "640" },
      live: 1,
      moduleParameter: "Y",
    });
    expect(parsePreviousRecord(kv(["state=present", "version=1", "kind=absent"]))).toEqual({
      kind: "record",
      file: { kind: "absent" },
      live: null,
      moduleParameter: null,
    });
    expect(parsePreviousRecord(new Map())).toEqual({ kind: "none" });
    expect(parsePreviousRecord(kv(["state=absent"]))).toEqual({ kind: "none" });
    expect(parsePreviousRecord(kv(["state=symlink"]))).toMatchObject({ kind: "blocked" });
    expect(parsePreviousRecord(kv(["state=other"]))).toMatchObject({ kind: "blocked" });
    expect(parsePreviousRecord(kv(["state=unreadable"]))).toMatchObject({ kind: "unusable" });
    expect(parsePreviousRecord(kv(["state=present", "version=2", "kind=absent"]))).toMatchObject({ kind: "unusable" });
    expect(parsePreviousRecord(kv(["state=present", "version=1"]))).toMatchObject({ kind: "unusable" });
    expect(parsePreviousRecord(kv(["state=present", "version=1", "kind=file", "hex=zz"]))).toMatchObject({ kind: "unusable" });
  });
});

/** Runs the apply script here: `d` stands in for /etc/modprobe.d, the lock is a file in it. */
function applyHere(d: string, m: string, changes: Change[], action: RecordAction) {
  const r = join(d, `.${m.split("/").pop()}${PREVIOUS_RECORD_SUFFIX}`);
  const { args, stdin } = applyArgs(m, changes, { path: r, action });
  const scriptText = APPLY_SCRIPT.split(HOST_LOCK).join(join(d, "lock"));
  const res = spawnSync("sh", ["-c", scriptText, "sh", ...args], { input: stdin, encoding: "utf8" });
  return { code: res.status, stderr: res.stderr, obs: parseObservation(res.stdout), r };
}

function observeHere(m: string, r: string) {
  return parseObservation(execFileSync("sh", ["-c", OBSERVE_SCRIPT, "sh", m, r]).toString());
}

describe("the apply script keeps the record on this machine", () => {
  let d = "";
  let m = "";
  beforeEach(() => {
    d = mkdtempSync(join(tmpdir(), "ctk-helper-record-"));
    m = join(d, "h.conf");
  });
  afterEach(() => rmSync(d, { recursive: true, force: true }));

  const remove: Change[] = [{ kind: "remove-file", path: "", why: "stale" }];
  const write = (content: string): Change[] => [{ kind: "write-file", path: "", content, why: "persist" }];

  it("make: records the hand-made file before removing it; a retry's make keeps that record; drop removes it after restoring", () => {
    writeFileSync(m, HAND_MADE, { mode: 0o640 });
    const first = applyHere(d, m, remove, "make");
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(m)).toBe(false);
    expect((statSync(first.r).mode & 0o777).toString(8)).toBe("600");
    expect(first.obs.previousRecord).toEqual({
      kind: "record",
      file: { kind: "file", content: HAND_MADE, mode: "640" },
      live: null,
      moduleParameter: null,
    });
    expect(verify(first.obs, remove, "make")).toEqual([]);

    // The retry (the first result never reached the state) sees no file, but the record says what there was.
    const retry = observeHere(m, first.r);
    expect(retry.file).toEqual({ kind: "absent" });
    expect(recordAtCreate(retry)).toMatchObject({ previousFileContent: HAND_MADE, previousFileMode: "640" });

    // A make that finds a record keeps it, even though the host now looks different.
    const again = applyHere(d, m, write(managedFileContent(0)), "make");
    expect(again.code, again.stderr).toBe(0);
    expect(again.obs.previousRecord).toMatchObject({ kind: "record", file: { kind: "file", content: HAND_MADE } });

    // Delete: the file back, then the record gone.
    const del = applyHere(d, m, [{ kind: "write-file", path: "", content: HAND_MADE, why: "restore", mode: "640" }], "drop");
    expect(del.code, del.stderr).toBe(0);
    expect(readFileSync(m, "utf8")).toBe(HAND_MADE);
    expect(existsSync(del.r)).toBe(false);
    expect(del.obs.previousRecord).toEqual({ kind: "none" });
    expect(verify(del.obs, [], "drop")).toEqual([]);
  });

  it("records an absent file as absent, and replace overwrites a stale record", () => {
    const first = applyHere(d, m, write(managedFileContent(0)), "make");
    expect(first.code, first.stderr).toBe(0);
    expect(first.obs.previousRecord).toMatchObject({ kind: "record", file: { kind: "absent" } });
    writeFileSync(m, HAND_MADE);
    const replaced = applyHere(d, m, write(managedFileContent(0)), "replace");
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.obs.previousRecord).toMatchObject({ kind: "record", file: { kind: "file", content: HAND_MADE } });
  });

  it("a run that fails before its first change removes the record it made: the host is as it was", () => {
    writeFileSync(m, HAND_MADE, { mode: 0o640 });
    const { args, stdin } = applyArgs(m, write(managedFileContent(0)), {
      path: join(d, `.h.conf${PREVIOUS_RECORD_SUFFIX}`),
      action: "make",
    });
    // Standard input that did not arrive whole: the write is refused, nothing changed.
    const res = spawnSync("sh", ["-c", APPLY_SCRIPT.split(HOST_LOCK).join(join(d, "lock")), "sh", ...args], {
      input: stdin.slice(0, 10),
      encoding: "utf8",
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/cannot write/);
    expect(readFileSync(m, "utf8")).toBe(HAND_MADE);
    expect(existsSync(join(d, `.h.conf${PREVIOUS_RECORD_SUFFIX}`))).toBe(false);
  });

  it("never writes through a symlink at the record's path", () => {
    writeFileSync(m, HAND_MADE);
    const target = join(d, "elsewhere");
    writeFileSync(target, "keep me\n");
    symlinkSync(target, join(d, `.h.conf${PREVIOUS_RECORD_SUFFIX}`));
    const res = applyHere(d, m, remove, "make");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/not a regular file/);
    expect(readFileSync(target, "utf8")).toBe("keep me\n");
    expect(readFileSync(m, "utf8")).toBe(HAND_MADE);
    expect(lstatSync(res.r).isSymbolicLink()).toBe(true);
  });
});

const record = (p: Partial<Extract<PreviousRecord, { kind: "record" }>>): PreviousRecord => ({
  kind: "record",
  file: { kind: "absent" },
  live: null,
  moduleParameter: null,
  ...p,
});

describe("the planner and the record", () => {
  it("a create whose earlier attempt finished but whose result was lost: previous comes from the record, nothing to change, the record kept", () => {
    // The host as the lost create left it: 0, N, our file. Before it: 1, Y, the hand-made file.
    const o = host({
      ...HOSTS.k510loaded0,
      file: file(managedFileContent(0)),
      previousRecord: record({ file: { kind: "file", content: HAND_MADE, mode: "640" }, live: 1, moduleParameter: "Y" }),
    });
    const p = plan(o, off);
    expect(p.changes).toEqual([]);
    expect(p.recordAction).toBe("keep");
    expect(p.record).toEqual({
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: HAND_MADE,
      previousFileMode: "640",
    });
    expect(recordNotesAtCreate(o, "h.conf").notes.join(" ")).toMatch(/\.h\.conf\.pulumi-conntrack-previous.*earlier create/);
  });

  it("a create cut after the live write (the script killed before the module parameter): previous live and parameter come from the record", () => {
    const o = host({
      ...HOSTS.k510loaded1,
      live: 0,
      param: "Y",
      file: file(managedFileContent(0)),
      previousRecord: record({ live: 1, moduleParameter: "Y" }),
    });
    const p = plan(o, off);
    expect(p.record).toMatchObject({ previousLiveValue: 1, previousModuleParameter: "Y", previousFileContent: null });
    expect(p.changes).toEqual([{ kind: "set-module-parameter", from: "Y", to: "N" }]);
    expect(p.recordAction).toBe("make");
    // Delete then puts 1 and Y back, and removes the file and the record.
    const after = host({ ...HOSTS.k510loaded0, file: file(managedFileContent(0)), previousRecord: o.previousRecord });
    const d = planDelete(after, "h.conf", p.record);
    expect(d.changes).toEqual([
      { kind: "set-live", from: 0, to: 1 },
      { kind: "set-module-parameter", from: "N", to: "Y" },
      expect.objectContaining({ kind: "remove-file" }),
    ]);
    expect(d.recordAction).toBe("drop");
  });

  it("a record made while nf_conntrack was not loaded: previous is the value at load without the managed file, as at a first create", () => {
    const loadedSince = host({ ...HOSTS.k510loaded0, file: file(managedFileContent(0)), previousRecord: record({}) });
    const fresh = host({ ...HOSTS.k510notLoaded });
    expect(recordAtCreate(loadedSince)).toEqual(recordAtCreate(fresh));
    expect(recordAtCreate(loadedSince)).toMatchObject({ previousLiveValue: 0, previousModuleParameter: "N" });
  });

  it("a stale record (the managed path holds a hand-made file it does not describe) is ignored, replaced, and said", () => {
    const o = host({
      ...HOSTS.k510loaded1,
      file: file("# new by hand\noptions nf_conntrack nf_conntrack_helper=1\n"),
      previousRecord: record({ file: { kind: "file", content: HAND_MADE }, live: 0, moduleParameter: "N" }),
    });
    const p = plan(o, off);
    expect(p.record).toMatchObject({
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: "# new by hand\noptions nf_conntrack nf_conntrack_helper=1\n",
    });
    expect(p.recordAction).toBe("replace");
    expect(recordNotesAtCreate(o, "h.conf").warnings.join(" ")).toMatch(/changed by hand since: it was ignored/);
    // The record's own file still there (killed before the first change): the record describes it.
    const same = host({
      ...HOSTS.k510loaded1,
      file: file(HAND_MADE),
      previousRecord: record({ file: { kind: "file", content: HAND_MADE } }),
    });
    expect(plan(same, off).recordAction).toBe("make");
    // An unusable one is replaced too.
    expect(plan(host({ ...HOSTS.k510loaded1, previousRecord: { kind: "unusable", why: "x" } }), off).recordAction).toBe("replace");
  });

  it("only a create that changes something writes it; an update never does; a symlink at its path refuses the create", () => {
    expect(plan(host({ ...HOSTS.k510loaded1 }), off).recordAction).toBe("make");
    expect(plan(host({ ...HOSTS.k510loaded0, file: file(managedFileContent(0)) }), off).recordAction).toBe("keep");
    const recorded = recordAtCreate(host({ ...HOSTS.k510loaded1 }));
    expect(plan(host({ ...HOSTS.k510loaded1 }), off, recorded).recordAction).toBe("keep");
    const blocked = plan(host({ ...HOSTS.k510loaded1, previousRecord: { kind: "blocked", what: "a symlink" } }), off);
    expect(blocked.changes).toEqual([]);
    expect(blocked.refusal).toMatchObject({
      error: "conflict",
      message: expect.stringMatching(/\.h\.conf\.pulumi-conntrack-previous is a symlink/),
    });
    // Nothing to change: nothing to record, and no refusal either.
    expect(
      plan(host({ ...HOSTS.k510loaded0, file: file(managedFileContent(0)), previousRecord: { kind: "blocked", what: "a symlink" } }), off)
        .refusal,
    ).toBeUndefined();
  });

  it("delete removes a record it finds (also when nothing else is left to restore), never a symlink", () => {
    const none = planDelete(host({ ...HOSTS.k510loaded1 }), "h.conf", recordAtCreate(host({ ...HOSTS.k510loaded1 })));
    expect(none).toMatchObject({ changes: [], recordAction: "keep" });
    const left = planDelete(
      host({ ...HOSTS.k510loaded1, previousRecord: record({ live: 1 }) }),
      "h.conf",
      recordAtCreate(host({ ...HOSTS.k510loaded1 })),
    );
    expect(left).toMatchObject({ changes: [], recordAction: "drop" });
    const link = planDelete(
      host({ ...HOSTS.k510loaded1, previousRecord: { kind: "blocked", what: "a symlink" } }),
      "h.conf",
      recordAtCreate(host({ ...HOSTS.k510loaded1 })),
    );
    expect(link.recordAction).toBe("keep");
    expect(link.warnings.join(" ")).toMatch(/left alone/);
  });
});

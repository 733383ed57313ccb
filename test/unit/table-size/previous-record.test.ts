/** ConntrackTableSize's host-side record of the values before its first change (issue 11). */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../../provider/common/markers";
import { APPLY_SCRIPT, verify } from "../../../provider/resources/table-size/apply";
import { MANAGED_PATHS } from "../../../provider/resources/table-size/managed-files";
import { observeArgs, parseObservation } from "../../../provider/resources/table-size/observe";
import { plan, planDelete, recordAtCreate, recordNotesAtCreate } from "../../../provider/resources/table-size/plan";
import {
  parseTableRecord,
  TABLE_RECORD_PATH,
  tableRecordDescribes,
  type TablePreviousRecord,
  type TableRecord,
} from "../../../provider/resources/table-size/previous-record";
import { host, want } from "./fixtures";

const hex = (s: string) => Buffer.from(s).toString("hex");
const HAND_MADE = "# ops: tuned by hand\n";
const OURS = `${MANAGED_FILE_HEADER}\nnet.netfilter.nf_conntrack_udp_timeout = 62\n`;

const record = (over: Partial<TableRecord> = {}): TablePreviousRecord => ({
  kind: "record",
  files: { sysctl: HAND_MADE, modprobe: null, udev: null },
  max: 262144,
  buckets: 262144,
  timeouts: { nf_conntrack_udp_timeout: 30, nf_conntrack_tcp_timeout_established: 432000 },
  ...over,
});

describe("the record's place and format", () => {
  it("lives next to the modprobe.d file, invisible to modprobe, and observe reads it", () => {
    expect(TABLE_RECORD_PATH).toBe("/etc/modprobe.d/.pulumi-conntrack-table.conf.pulumi-conntrack-previous");
    expect(observeArgs()).toEqual([MANAGED_PATHS.sysctl, MANAGED_PATHS.modprobe, MANAGED_PATHS.udev, TABLE_RECORD_PATH]);
  });

  it("parses a record: files (hex, - for none), values, every timeout", () => {
    const kv = new Map([
      ["state", "present"],
      ["version", "1"],
      ["sysctl", hex(HAND_MADE)],
      ["modprobe", "-"],
      ["udev", ""],
      ["max", "262144"],
      ["buckets", "65536"],
      ["nf_conntrack_udp_timeout", "30"],
      ["nf_conntrack_generic_timeout", "x"],
    ]);
    expect(parseTableRecord(kv)).toEqual({
      kind: "record",
      files: { sysctl: HAND_MADE, modprobe: null, udev: "" },
      max: 262144,
      buckets: 65536,
      timeouts: { nf_conntrack_udp_timeout: 30 },
    });
  });

  it("tells none, blocked and unusable apart", () => {
    expect(parseTableRecord(new Map())).toEqual({ kind: "none" });
    expect(parseTableRecord(new Map([["state", "absent"]]))).toEqual({ kind: "none" });
    expect(parseTableRecord(new Map([["state", "symlink"]]))).toEqual({ kind: "blocked", what: "a symlink" });
    expect(parseTableRecord(new Map([["state", "other"]]))).toEqual({ kind: "blocked", what: "not a regular file" });
    expect(parseTableRecord(new Map([["state", "unreadable"]]))).toEqual({ kind: "unusable", why: "it cannot be read" });
    expect(
      parseTableRecord(
        new Map([
          ["state", "present"],
          ["version", "2"],
        ]),
      ),
    ).toMatchObject({ kind: "unusable" });
    expect(
      parseTableRecord(
        new Map([
          ["state", "present"],
          ["version", "1"],
          ["sysctl", "zz"],
          ["modprobe", "-"],
          ["udev", "-"],
        ]),
      ),
    ).toEqual({ kind: "unusable", why: `it does not say what ${MANAGED_PATHS.sysctl} was` });
  });

  it("observe's section reaches the parser", () => {
    const out = `@@ctk previous\nstate=present\nversion=1\nsysctl=-\nmodprobe=-\nudev=-\nnf_conntrack_udp_timeout=30\n`;
    expect(parseObservation(out).previousRecord).toEqual({
      kind: "record",
      files: { sysctl: null, modprobe: null, udev: null },
      max: null,
      buckets: null,
      timeouts: { nf_conntrack_udp_timeout: 30 },
    });
  });

  it("the apply script writes the record with ctk_write_text and parses under sh -n", () => {
    expect(APPLY_SCRIPT).toContain('ctk_write_text "$r" 0600 "$rec');
    execFileSync("/bin/sh", ["-n", "-c", APPLY_SCRIPT]);
  });
});

describe("whether a record still describes the host", () => {
  const rec = record() as TableRecord;
  it("yes while each file is absent, ours, or still the recorded one", () => {
    expect(tableRecordDescribes(rec, host().files)).toBe(true);
    expect(tableRecordDescribes(rec, host({ files: { sysctl: { kind: "file", content: OURS, mode: "644" } } }).files)).toBe(true);
    expect(tableRecordDescribes(rec, host({ files: { sysctl: { kind: "file", content: HAND_MADE, mode: "644" } } }).files)).toBe(true);
  });
  it("no once someone put another file there, or something that is not a file", () => {
    expect(tableRecordDescribes(rec, host({ files: { sysctl: { kind: "file", content: "# other\n", mode: "644" } } }).files)).toBe(false);
    expect(tableRecordDescribes(rec, host({ files: { udev: { kind: "other", what: "symlink" } } }).files)).toBe(false);
  });
});

describe("create with a record left by an earlier attempt", () => {
  // The earlier attempt set udp 30 -> 62 and wrote its sysctl file over the hand-made one.
  const after = host({
    timeouts: { nf_conntrack_udp_timeout: 62, nf_conntrack_tcp_timeout_established: 432000 },
    files: { sysctl: { kind: "file", content: OURS, mode: "644" } },
    previousRecord: record(),
  });

  it("records what the host had before that attempt: its files, and each value that attempt changed", () => {
    expect(recordAtCreate(after)).toEqual({
      previousMax: null,
      previousBuckets: null,
      previousTimeouts: { nf_conntrack_udp_timeout: 30 },
      previousFiles: { sysctl: HAND_MADE, modprobe: null, udev: null },
    });
    // max and hash size changed too: recorded from the record, not from what the host shows.
    const all = host({ max: 524288, buckets: 131072, previousRecord: record() });
    expect(recordAtCreate(all)).toMatchObject({ previousMax: 262144, previousBuckets: 262144 });
  });

  it("a retry that still changes a value keeps the record's value as previous, and keeps the record", () => {
    const p = plan(after, want({ timeouts: { udp: 64 } }));
    expect(p.changes).toContainEqual({ kind: "set-sysctl", key: "nf_conntrack_udp_timeout", from: 62, to: 64 });
    expect(p.record.previousTimeouts.nf_conntrack_udp_timeout).toBe(30);
    expect(p.recordAction).toBe("make");
  });

  it("says where the values came from", () => {
    expect(recordNotesAtCreate(after).notes).toEqual([expect.stringContaining(TABLE_RECORD_PATH)]);
    expect(recordNotesAtCreate(host()).notes).toEqual([]);
  });

  it("ignores a stale record with a warning, and replaces it", () => {
    const stale = host({ files: { sysctl: { kind: "file", content: "# other\n", mode: "644" } }, previousRecord: record() });
    expect(recordAtCreate(stale).previousFiles.sysctl).toBe("# other\n");
    expect(recordNotesAtCreate(stale).warnings).toEqual([expect.stringContaining("was changed by hand since")]);
    expect(plan(stale, want({ timeouts: { udp: 64 } })).recordAction).toBe("replace");
    const unusable = host({ previousRecord: { kind: "unusable", why: "it cannot be read" } });
    expect(plan(unusable, want({ timeouts: { udp: 64 } })).recordAction).toBe("replace");
    expect(recordNotesAtCreate(unusable).warnings).toEqual([
      `${TABLE_RECORD_PATH} was ignored (it cannot be read); the host as it is now is what delete puts back.`,
    ]);
  });
});

describe("record actions", () => {
  it("a create that changes something makes the record; one that changes nothing and an update keep it", () => {
    expect(plan(host(), want({ timeouts: { udp: 64 } })).recordAction).toBe("make");
    expect(plan(host(), want({ timeouts: { udp: 30 }, persist: false })).recordAction).toBe("keep");
    const made = plan(host(), want({ timeouts: { udp: 64 } }));
    expect(plan(host(), want({ timeouts: { udp: 65 } }), made.record).recordAction).toBe("keep");
  });

  it("a symlink or directory at the record's path refuses a create that would change something", () => {
    const p = plan(host({ previousRecord: { kind: "blocked", what: "a symlink" } }), want({ timeouts: { udp: 64 } }));
    expect(p.changes).toEqual([]);
    expect(p.refusal).toMatchObject({ error: "conflict", command: `write ${TABLE_RECORD_PATH}` });
    expect(p.effective.timeouts.nf_conntrack_udp_timeout).toBe(30);
  });

  it("delete removes this package's record (or an unusable one) and leaves anything else, with a warning", () => {
    const rec = plan(host(), want({ timeouts: { udp: 64 } })).record;
    expect(planDelete(host({ previousRecord: record() }), rec).recordAction).toBe("drop");
    expect(planDelete(host({ previousRecord: { kind: "unusable", why: "x" } }), rec).recordAction).toBe("drop");
    expect(planDelete(host(), rec).recordAction).toBe("keep");
    const blocked = planDelete(host({ previousRecord: { kind: "blocked", what: "a symlink" } }), rec);
    expect(blocked.recordAction).toBe("keep");
    expect(blocked.warnings).toContain(`${TABLE_RECORD_PATH} is a symlink, not this package's record; it was left alone`);
  });

  it("verify checks the record was written, or removed", () => {
    expect(verify(host(), [], "make")).toEqual(["the record of the earlier values was not written"]);
    expect(verify(host({ previousRecord: record() }), [], "replace")).toEqual([]);
    expect(verify(host({ previousRecord: record() }), [], "drop")).toEqual([
      "the record of the earlier values is still there after removal",
    ]);
    expect(verify(host(), [], "drop")).toEqual([]);
    expect(verify(host({ previousRecord: record() }), [], "keep")).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { managedFileContent } from "../../../provider/resources/helper-setting/managed-file";
import { outputsOf, recordedOf, reflectedDesired } from "../../../provider/resources/helper-setting/outputs";
import { plan, type Recorded } from "../../../provider/resources/helper-setting/plan";
import { DEFAULT_HELPER_FILE_NAME, type HelperSettingDesired } from "../../../provider/resources/helper-setting/schema";
import { HOSTS, file, host, modprobeLine, type HostShape } from "./fixtures";

const off: HelperSettingDesired = { enabled: false, persist: true, fileName: DEFAULT_HELPER_FILE_NAME };
const C0 = managedFileContent(0);
const C1 = managedFileContent(1);
const REC: Recorded = { previousLiveValue: 0, previousModuleParameter: "N", previousFileContent: null, previousFileMode: null };

/** What refresh would give as inputs for a host, with the stored inputs `olds`. */
function refreshed(h: HostShape, olds: HelperSettingDesired = off) {
  const o = host(h);
  return reflectedDesired(o, plan(o, olds, REC), olds);
}

describe("refresh: inputs that reflect the host, so drift shows in the next diff", () => {
  it("a host as the resource left it reflects the program's values", () => {
    expect(refreshed({ ...HOSTS.k510loaded0, file: file(C0) })).toEqual({ enabled: false, persist: true });
    expect(refreshed({ ...HOSTS.k510loaded1, file: file(C1) }, { ...off, enabled: true })).toEqual({ enabled: true, persist: true });
    expect(refreshed(HOSTS.k618builtin)).toEqual({ enabled: false, persist: true });
    expect(refreshed({ ...HOSTS.k510builtin1 }, { ...off, enabled: true })).toEqual({ enabled: true, persist: true });
    expect(refreshed({ ...HOSTS.k510loaded0 }, { ...off, persist: false })).toEqual({ enabled: false, persist: false });
  });

  it("someone wrote 1 into the sysctl: enabled shows true", () => {
    expect(refreshed({ ...HOSTS.k510loaded0, live: 1, file: file(C0) })).toEqual({ enabled: true, persist: true });
  });

  it("only the module parameter changed: enabled shows it", () => {
    expect(refreshed({ ...HOSTS.k510loaded0, param: "Y", file: file(C0) })).toEqual({ enabled: true, persist: true });
  });

  it("the file was edited or removed: persist flips", () => {
    expect(refreshed({ ...HOSTS.k510loaded0, file: file(C1) })).toEqual({ enabled: false, persist: false });
    expect(refreshed({ ...HOSTS.k510loaded0, file: file(`${C0}# note\n`) })).toEqual({ enabled: false, persist: false });
    expect(refreshed(HOSTS.k510loaded0)).toEqual({ enabled: false, persist: false });
    // persist: false, and the file reappeared.
    expect(refreshed({ ...HOSTS.k510loaded0, file: file(C0) }, { ...off, persist: false })).toEqual({ enabled: false, persist: true });
  });

  it("not loaded: the value the file would load is what the host does", () => {
    expect(refreshed({ ...HOSTS.k510notLoaded, file: file(C1) })).toEqual({ enabled: true, persist: true });
    expect(refreshed({ ...HOSTS.k510notLoaded, file: file(C0) })).toEqual({ enabled: false, persist: true });
    expect(refreshed({ ...HOSTS.k510notLoaded, file: file("garbage\n") })).toEqual({ enabled: false, persist: false });
  });

  it("toggle removed: a stale line put back flips persist; enabled is always false", () => {
    expect(refreshed({ ...HOSTS.k618builtin, file: file(C0) })).toEqual({ enabled: false, persist: false });
    expect(refreshed(HOSTS.k61loaded, { ...off, enabled: true })).toEqual({ enabled: false, persist: true });
  });
});

describe("outputs", () => {
  it("report kernel, live value, module state, the file, records, and notes", () => {
    const o = host({ ...HOSTS.k510loaded0, file: file(C0), outside: [modprobeLine("/etc/modprobe.d/zz.conf", 1)] });
    const out = outputsOf(o, plan(o, off, REC), off, REC, ["did things"]);
    expect(out).toMatchObject({
      kernelRelease: "5.10.0-32-amd64",
      toggle: "present",
      nfConntrack: "loaded",
      liveValue: 0,
      moduleParameter: "N",
      persistedFile: `/etc/modprobe.d/${DEFAULT_HELPER_FILE_NAME}`,
      persistedContent: C0,
      // zz.conf is read after the managed file and sets 1: the managed file does not persist 0.
      persistence: "overridden-modprobe.d",
      previousLiveValue: 0,
      previousModuleParameter: "N",
      previousFileContent: null,
      actions: ["did things"],
    });
    expect(out.conflicts).toHaveLength(1);
    expect(out.warnings).toHaveLength(1);
    expect(out.notes.join(" ")).toMatch(/keep it/);
  });

  it("where the toggle is gone: says so, and reports no file", () => {
    const o = host(HOSTS.k618builtin);
    const out = outputsOf(o, plan(o, off), off, REC, []);
    expect(out).toMatchObject({
      toggle: "removed",
      nfConntrack: "builtin",
      liveValue: null,
      persistedFile: null,
      persistedContent: null,
      persistence: "not-applicable",
    });
    expect(out.notes[0]).toMatch(/does not exist on this kernel/);
  });

  it("a refusal found on refresh is reported as a warning", () => {
    const o = host(HOSTS.k61loaded);
    const out = outputsOf(o, plan(o, { ...off, enabled: true }, REC), off, REC, []);
    expect(out.warnings[0]).toMatch(/CT --helper/);
  });

  it("reads recorded values from stored state, tolerating anything malformed", () => {
    expect(recordedOf({ previousLiveValue: 1, previousModuleParameter: "Y", previousFileContent: "x", previousFileMode: "600" })).toEqual({
      previousLiveValue: 1,
      previousModuleParameter: "Y",
      previousFileContent: "x",
      previousFileMode: "600",
    });
    expect(recordedOf({ previousLiveValue: "1", previousModuleParameter: 3, previousFileMode: "rwx" })).toEqual({
      previousLiveValue: null,
      previousModuleParameter: null,
      previousFileContent: null,
      previousFileMode: null,
    });
  });
});

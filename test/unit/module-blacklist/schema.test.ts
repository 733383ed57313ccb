import { describe, expect, it } from "vitest";
import { UNKNOWN } from "../../../provider/common/unknown";
import { DEFAULT_FILE_NAME, ModuleBlacklistSchema } from "../../../provider/resources/module-blacklist/schema";
import { handler } from "../../../provider/runtime";

const connection = { host: "127.0.0.9" };
const h = handler("ModuleBlacklist");

async function failures(news: Record<string, unknown>) {
  const r = await h.check({}, news);
  return (r.failures ?? []).map((f) => f.property);
}

describe("ModuleBlacklist inputs", () => {
  it("applies the defaults and canonicalizes the module list", () => {
    const v = ModuleBlacklistSchema.parse({ connection, modules: ["nf_nat", "iptable-nat", "nf_conntrack"] });
    expect(v).toMatchObject({
      modules: ["iptable_nat", "nf_conntrack", "nf_nat"],
      mode: "disable",
      unload: false,
      initramfs: "auto",
      fileName: DEFAULT_FILE_NAME,
    });
    expect(v.connection).toMatchObject({ port: 22, user: "root", sudo: false });
  });

  it("makes the order of modules irrelevant to diff", async () => {
    const a = (await h.check({}, { connection, modules: ["nf_nat", "nf_conntrack"] })).inputs!;
    const b = (await h.check({}, { connection, modules: ["nf_conntrack", "nf-nat"] })).inputs!;
    expect(await h.diff("id", a, b)).toMatchObject({ changes: false });
  });

  it("refuses duplicates, also when they differ only in '-' and '_', naming the later entry", async () => {
    const r = await h.check({}, { connection, modules: ["nf_conntrack", "nf_nat", "nf-conntrack"] });
    expect(r.failures).toEqual([{ property: "modules[2]", reason: expect.stringContaining('duplicate of modules[0] ("nf_conntrack")') }]);
  });

  it.each([
    ["../x"],
    ["nf conntrack"],
    ["nf_conntrack;reboot"],
    ["$(reboot)"],
    ["`id`"],
    ["a|b"],
    ["x&"],
    ["-r"],
    [""],
    ["a".repeat(56)],
    ["nf_conntrack\n"],
  ])("refuses the module name %j with the property named", async (bad) => {
    const r = await h.check({}, { connection, modules: ["nf_nat", bad] });
    expect(r.failures).toEqual([{ property: "modules[1]", reason: expect.stringContaining("must be a kernel module name") }]);
  });

  it("refuses an empty list, a bad mode, a bad initramfs policy and unknown properties", async () => {
    expect(await failures({ connection, modules: [] })).toEqual(["modules"]);
    expect(await failures({ connection, modules: ["x"], mode: "remove" })).toEqual(["mode"]);
    expect(await failures({ connection, modules: ["x"], initramfs: "sometimes" })).toEqual(["initramfs"]);
    expect(await failures({ connection, modules: ["x"], unlaod: true })).toEqual(["unlaod"]);
  });

  it.each([["../evil.conf"], ["sub/x.conf"], ["x.txt"], [".hidden.conf"], ["a b.conf"]])("refuses the file name %j", async (bad) => {
    expect(await failures({ connection, modules: ["x"], fileName: bad })).toEqual(["fileName"]);
  });

  it("passes unknown values (preview) through untouched", async () => {
    const r = await h.check({}, { connection, modules: ["nf_nat", UNKNOWN] });
    expect(r.failures).toBeUndefined();
    expect(r.inputs!.modules).toEqual(["nf_nat", UNKNOWN]);
    expect((await h.check({}, { connection, modules: UNKNOWN })).failures).toBeUndefined();
  });
});

describe("ModuleBlacklist diff", () => {
  const base = {
    connection: { ...connection, port: 22, user: "root", sudo: false, dialErrorLimit: 10, perDialTimeout: 15 },
    modules: ["nf_conntrack"],
    mode: "disable",
    unload: false,
    initramfs: "auto",
    fileName: DEFAULT_FILE_NAME,
  };

  it("updates in place for modules, mode, unload and initramfs", async () => {
    for (const change of [{ modules: ["nf_nat"] }, { mode: "blacklist" }, { unload: true }, { initramfs: "never" }]) {
      expect(await h.diff("id", base, { ...base, ...change })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    }
  });

  it("replaces, removing the old file first, for another file name or host", async () => {
    expect(await h.diff("id", base, { ...base, fileName: "other.conf" })).toEqual({
      changes: true,
      replaces: ["fileName"],
      deleteBeforeReplace: true,
    });
    expect(await h.diff("id", base, { ...base, connection: { ...base.connection, host: "10.0.0.2" } })).toMatchObject({
      replaces: ["connection"],
      deleteBeforeReplace: true,
    });
  });

  it("asks for an update when a refresh found drift the inputs cannot show", async () => {
    expect(await h.diff("id", { ...base, drift: ["edited by hand"], driftRepairable: true }, base)).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(await h.diff("id", { ...base, drift: ["nf_conntrack is loaded"], driftRepairable: false }, base)).toMatchObject({
      changes: false,
    });
  });
});

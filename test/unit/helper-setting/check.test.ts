import type * as command from "@pulumi/command";
import { describe, expect, it } from "vitest";
import { UNKNOWN } from "../../../provider/common/unknown";
import { plan } from "../../../provider/resources/helper-setting/plan";
import { ConntrackHelperSetting, type ConntrackHelperSettingArgs } from "../../../provider/resources/helper-setting/resource";
import { HelperSettingSchema } from "../../../provider/resources/helper-setting/schema";
import { helperSettingId } from "../../../provider/resources/helper-setting/kind";
import { handler } from "../../../provider/runtime";
import { poolSize } from "../../../provider/transport/pool";

const h = () => handler("ConntrackHelperSetting");
// A loopback address nothing listens on: any attempt to reach it would fail, not pass, and no packet leaves the machine.
const conn = { host: "127.0.0.9" };

async function failures(news: Record<string, unknown>) {
  const r = await h().check({}, news);
  return (r.failures ?? []).map((f) => f.property).sort();
}

describe("check: inputs validated without a host", () => {
  it("fills defaults: off, persisted, the default file", async () => {
    const r = await h().check({}, { connection: conn });
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toMatchObject({
      enabled: false,
      persist: true,
      fileName: "pulumi-conntrack-helper.conf",
      connection: { host: "127.0.0.9", port: 22, user: "root" },
    });
  });

  it("refuses wrong types, naming each property", async () => {
    expect(await failures({ connection: conn, enabled: "no", persist: 1, fileName: 7 })).toEqual(["enabled", "fileName", "persist"]);
    expect(await failures({ connection: { host: "a b", port: "22" } })).toEqual(["connection.host", "connection.port"]);
    expect(await failures({ enabled: true })).toEqual(["connection"]);
  });

  it("refuses a file name that is not a plain .conf name", async () => {
    for (const bad of ["../x.conf", "a/b.conf", "/etc/x.conf", "..conf", "a..b.conf", "x.txt", ".hidden.conf", "", "a b.conf", "-x.conf"]) {
      const r = await h().check({}, { connection: conn, fileName: bad });
      expect(
        r.failures?.map((f) => f.property),
        bad,
      ).toEqual(expect.arrayContaining(["fileName"]));
      expect(r.failures!.every((f) => f.property === "fileName")).toBe(true);
    }
    const reasons = async (n: string) =>
      ((await h().check({}, { connection: conn, fileName: n })).failures ?? []).map((f) => f.reason).join(" ");
    expect(await reasons("a/b.conf")).toMatch(/without '\/'/);
    expect(await reasons("../b.conf")).toMatch(/'\.\.'/);
    expect(await reasons("b.cfg")).toMatch(/\.conf/);
    expect((await h().check({}, { connection: conn, fileName: "10-no-helper.conf" })).failures).toBeUndefined();
  });

  it("refuses unknown properties, at the top and in the connection", async () => {
    expect(await failures({ connection: { ...conn, sudoo: true }, enable: true })).toEqual(["connection.sudoo", "enable"]);
  });

  it("accepts unknown values during preview", async () => {
    expect((await h().check({}, { connection: { host: UNKNOWN }, enabled: UNKNOWN })).failures).toBeUndefined();
  });

  it("never contacts the host", async () => {
    await h().check({}, { connection: conn, enabled: "bad" });
    await h().check({}, { connection: conn });
    await h().diff("id", { connection: { ...conn, port: 22 }, enabled: false }, { connection: { ...conn, port: 22 }, enabled: true });
    expect(poolSize()).toBe(0);
  });
});

describe("diff: no host needed", () => {
  const olds = {
    connection: { host: "10.0.0.1", port: 22, user: "root" },
    enabled: false,
    persist: true,
    fileName: "pulumi-conntrack-helper.conf",
    liveValue: 0,
  };
  const news = (over: Record<string, unknown>) => ({ ...HelperSettingSchema.parse({ connection: { host: "10.0.0.1" } }), ...over });

  it("nothing changed: no change, whatever outputs are stored", async () => {
    expect(await h().diff("id", olds, news({}))).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });

  it("enabled and persist update in place", async () => {
    expect(await h().diff("id", olds, news({ enabled: true }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(await h().diff("id", olds, news({ persist: false }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("another host or port replaces; another file replaces, old one first", async () => {
    const other = HelperSettingSchema.parse({ connection: { host: "10.0.0.2" } });
    expect(await h().diff("id", olds, other)).toMatchObject({ changes: true, replaces: ["connection"], deleteBeforeReplace: true });
    expect(await h().diff("id", olds, news({ fileName: "x.conf" }))).toMatchObject({ replaces: ["fileName"], deleteBeforeReplace: true });
  });
});

describe("exports and types", () => {
  it("ids are stable and name the host", () => {
    expect(helperSettingId({ host: "10.0.0.1", port: 22 })).toBe("nf_conntrack_helper@10.0.0.1:22");
    expect(helperSettingId({ host: "fd42:c7::11", port: 2222 })).toBe("nf_conntrack_helper@[fd42:c7::11]:2222");
  });

  it("the index exports the class, schema and plan; the connection takes @pulumi/command's shape", () => {
    expect(typeof ConntrackHelperSetting).toBe("function");
    expect(typeof plan).toBe("function");
    expect(HelperSettingSchema.shape.enabled).toBeDefined();
    // Compile-time check: a @pulumi/command connection is assignable to the args' connection.
    const c: command.types.input.remote.ConnectionArgs = { host: "h", port: 22, proxy: { host: "b" } };
    const args: ConntrackHelperSettingArgs = { connection: c, enabled: false };
    expect(args.connection).toBe(c);
  });
});

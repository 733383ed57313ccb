import { describe, expect, it } from "vitest";
import { handler, registeredTypes } from "../../../provider/runtime";
import { UNKNOWN } from "../../../provider/common/unknown";
import { z } from "zod";
import { handlersFor } from "../../../provider/runtime/handlers";
import { logWarnings, providerEngineAddress, setWarningSink } from "../../../provider/runtime/engine-log";
import type { ResourceKind } from "../../../provider/common/kind";

describe("runtime handlers", () => {
  it("registers every resource type the serialized providers name", () => {
    expect(registeredTypes().sort()).toEqual([
      "ConntrackHelperRule",
      "ConntrackHelperSetting",
      "ConntrackTableSize",
      "ModuleBlacklist",
      "NotrackRule",
    ]);
    expect(() => handler("NoSuchType")).toThrow(/unknown resource type NoSuchType/);
  });

  it("names the property and the host in check failures, for a fleet of hundreds", async () => {
    const r = await handler("ConntrackHelperSetting").check(
      {},
      { connection: { host: "10.0.0.7", port: 70000 }, enabled: "yes", enable: true },
    );
    expect(r.failures).toEqual(
      expect.arrayContaining([
        { property: "connection.port", reason: expect.stringContaining('(host "10.0.0.7")') },
        { property: "enabled", reason: expect.stringContaining('(host "10.0.0.7")') },
        { property: "enable", reason: 'unknown property (host "10.0.0.7")' },
      ]),
    );
  });

  it("accepts unknown preview values and strips engine keys", async () => {
    const r = await handler("ConntrackHelperSetting").check({}, { connection: { host: UNKNOWN }, enabled: UNKNOWN, __provider: "x" });
    expect(r.failures ?? []).toEqual([]);
  });
});

describe("warnings reach the engine log (issue 12, item 8)", () => {
  const schema = z.object({ connection: z.any(), n: z.number() }).strict();
  const kind: ResourceKind<z.output<typeof schema>, { warnings: string[]; notes: string[] }> = {
    type: "Fake",
    schema,
    replaceOn: [],
    stateVersion: 1,
    async create() {
      return { id: "fake-1", outs: { warnings: ["first", "second"], notes: ["only a note"] } };
    },
    async read(_id, olds) {
      return { outs: { warnings: ["drifted"], notes: [] }, inputs: olds };
    },
    async update() {
      return { warnings: [], notes: ["x"] };
    },
    async delete() {},
  };

  it("create, read and update log every entry of the warnings output, named by type and id; notes are not logged", async () => {
    const seen: string[] = [];
    setWarningSink(async (m) => {
      seen.push(m);
    });
    try {
      const h = handlersFor(kind);
      await h.create({ connection: {}, n: 1 });
      await h.read("fake-1", { connection: {}, n: 1 });
      await h.update("fake-1", { connection: {}, n: 1 }, { connection: {}, n: 2 });
      expect(seen).toEqual(["Fake fake-1: first", "Fake fake-1: second", "Fake fake-1: drifted"]);
    } finally {
      setWarningSink(undefined);
    }
  });

  it("a failing sink never fails the operation; malformed warnings are skipped", async () => {
    setWarningSink(async () => {
      throw new Error("engine gone");
    });
    try {
      await expect(logWarnings("Fake", "id", ["w"])).resolves.toBeUndefined();
      await expect(handlersFor(kind).create({ connection: {}, n: 1 })).resolves.toMatchObject({ id: "fake-1" });
    } finally {
      setWarningSink(undefined);
    }
    const seen: string[] = [];
    setWarningSink(async (m) => void seen.push(m));
    try {
      await logWarnings("Fake", "id", ["ok", 3, "", null]);
      await logWarnings("Fake", "id", "not a list");
      expect(seen).toEqual(["Fake id: ok"]);
    } finally {
      setWarningSink(undefined);
    }
  });

  it("finds the engine address only in the dynamic-provider process (its first argument)", () => {
    const main = "/p/node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js";
    expect(providerEngineAddress(main, ["node", main, "127.0.0.1:40123"])).toBe("127.0.0.1:40123");
    expect(providerEngineAddress("/p/node_modules/vitest/vitest.mjs", ["node", "x", "127.0.0.1:40123"])).toBeUndefined();
    expect(providerEngineAddress(main, ["node", main])).toBeUndefined();
    expect(providerEngineAddress(main, ["node", main, "--evil; rm -rf /"])).toBeUndefined();
  });
});

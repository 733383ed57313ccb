import { describe, expect, it } from "vitest";
import { handler, registeredTypes } from "../../../provider/runtime";
import { UNKNOWN } from "../../../provider/common/unknown";

describe("runtime handlers", () => {
  it("registers every resource type the serialized providers name", () => {
    expect(registeredTypes().sort()).toEqual(["ConntrackHelperSetting", "ConntrackTableSize", "ModuleBlacklist", "NotrackRule"]);
    expect(() => handler("NoSuchType")).toThrow(/unknown resource type NoSuchType/);
  });

  it("names the property and the host in check failures, for a fleet of hundreds", async () => {
    const r = await handler("ConntrackHelperSetting").check({}, { connection: { host: "10.0.0.7", port: 70000 }, enabled: "yes", enable: true });
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

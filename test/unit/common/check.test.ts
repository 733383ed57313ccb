import { describe, expect, it } from "vitest";
import { z } from "zod";
import { checkWith, propertyPath } from "../../../provider/common/check";
import { UNKNOWN } from "../../../provider/common/unknown";
import { ConnectionSchema } from "../../../provider/connection/schema";

const Schema = z
  .object({ connection: ConnectionSchema, enabled: z.boolean().default(false), files: z.array(z.string().regex(/^[a-z]+$/)).default([]) })
  .strict();

describe("checkWith", () => {
  it("fills defaults, including @pulumi/command's connection defaults", () => {
    const r = checkWith(Schema, { connection: { host: "10.0.0.1" } });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.inputs.connection).toMatchObject({ port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15, sudo: false });
      expect(r.inputs.enabled).toBe(false);
    }
  });

  it("names every bad property, unknown ones included, and never throws", () => {
    const r = checkWith(Schema, {
      connection: { host: "h;rm -rf /", port: "22", bogus: 1 },
      enabled: "yes",
      files: ["ok", "../x"],
      extra: true,
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const props = r.failures.map((f) => f.property).sort();
      expect(props).toEqual(["connection.bogus", "connection.host", "connection.port", "enabled", "extra", "files[1]"].sort());
    }
    expect(checkWith(Schema, undefined).ok).toBe(false);
    expect(checkWith(Schema, "nonsense").ok).toBe(false);
  });

  it("lets unknown preview values through and still reports known bad ones", () => {
    const r = checkWith(Schema, { connection: { host: UNKNOWN }, enabled: UNKNOWN });
    expect(r.ok).toBe(true);
    const r2 = checkWith(Schema, { connection: { host: UNKNOWN, port: 0 } });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.failures.map((f) => f.property)).toEqual(["connection.port"]);
  });

  it("refuses unrecognised keys inside connection (and its proxy) even when a value there is unknown", () => {
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ host: UNKNOWN, bogus: 1 }, ["connection.bogus"]],
      [{ host: "h", bogus: 1, privateKey: UNKNOWN }, ["connection.bogus"]],
      [{ host: "h", bogus: UNKNOWN }, ["connection.bogus"]],
      [{ host: "h", bogus: { nested: UNKNOWN } }, ["connection.bogus"]],
      [{ host: "h", bogus: 1, proxy: UNKNOWN }, ["connection.bogus"]],
      [{ host: "h", proxy: { host: UNKNOWN, zzz: 1 } }, ["connection.proxy.zzz"]],
      [{ host: "h", proxy: { host: "b", zzz: 1, password: UNKNOWN } }, ["connection.proxy.zzz"]],
      [{ host: UNKNOWN, port: 0, bogus: 1, proxy: { host: "b", zzz: 1 } }, ["connection.bogus", "connection.port", "connection.proxy.zzz"]],
    ];
    for (const [connection, want] of cases) {
      const r = checkWith(Schema, { connection, enabled: UNKNOWN });
      expect(r.ok, JSON.stringify(connection)).toBe(false);
      if (!r.ok) expect(r.failures.map((f) => f.property).sort(), JSON.stringify(connection)).toEqual(want);
    }
  });

  it("formats paths", () => {
    expect(propertyPath(["a", 2, "b"])).toBe("a[2].b");
    expect(propertyPath([])).toBe("(inputs)");
  });
});

import { describe, expect, it } from "vitest";
import { handlersFor } from "../../../provider/runtime/handlers";
import { tableSizeKind } from "../../../provider/resources/table-size/kind";
import { TableSizeSchema, combinationFailures } from "../../../provider/resources/table-size/schema";

const conn = { host: "10.0.0.5" };
const check = (news: Record<string, unknown>) => handlersFor(tableSizeKind as never).check({}, news);

describe("ConntrackTableSize inputs", () => {
  it("applies defaults", () => {
    const i = TableSizeSchema.parse({ connection: conn, max: 262144 });
    expect(i).toMatchObject({ max: 262144, onlyRaise: false, persist: true, allowLargeTable: false, timeouts: {} });
    expect(i.connection).toMatchObject({ host: "10.0.0.5", port: 22, user: "root" });
  });

  it("refuses unknown properties, unknown timeout names and out-of-range values", () => {
    expect(TableSizeSchema.safeParse({ connection: conn, max: 1, maxx: 2 }).success).toBe(false);
    expect(TableSizeSchema.safeParse({ connection: conn, timeouts: { tcpEstablised: 10 } }).success).toBe(false);
    expect(TableSizeSchema.safeParse({ connection: conn, max: 0 }).success).toBe(false);
    expect(TableSizeSchema.safeParse({ connection: conn, max: 2 ** 31 }).success).toBe(false);
    expect(TableSizeSchema.safeParse({ connection: conn, buckets: 2 ** 28 }).success).toBe(false);
    expect(TableSizeSchema.safeParse({ connection: conn, timeouts: { udp: 3_000_000 } }).success).toBe(false);
    expect(TableSizeSchema.safeParse({ connection: conn, timeouts: { udp: 1.5 } }).success).toBe(false);
  });

  it("refuses combinations: max with maxPerCore, min without maxPerCore, nothing to manage", () => {
    expect(combinationFailures({ max: 1, maxPerCore: 2, timeouts: {} }).map((f) => f.property)).toEqual(["max"]);
    expect(combinationFailures({ max: 1, min: 2, timeouts: {} }).map((f) => f.property)).toEqual(["min"]);
    expect(combinationFailures({ timeouts: {} })[0].reason).toMatch(/nothing to manage/);
    expect(combinationFailures({ timeouts: { udp: 30 } })).toEqual([]);
    expect(combinationFailures({ maxPerCore: 32768, min: 131072, timeouts: {} })).toEqual([]);
  });

  it("check() reports failures (naming the host) and never throws", async () => {
    const bad = await check({ connection: conn, max: 1, maxPerCore: 2 });
    expect(bad.failures?.[0]).toMatchObject({ property: "max" });
    expect(bad.failures?.[0].reason).toMatch(/10\.0\.0\.5/);
    expect((await check({ connection: conn, maxPerCore: 32768, min: 131072 })).failures).toBeUndefined();
    expect((await check({ connection: conn, max: "x" })).failures?.length).toBeGreaterThan(0);
  });
});

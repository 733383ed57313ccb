/**
 * Connections opened ahead of a change (provider/transport/preconnect.ts): which hosts, when, and
 * how many at once, over a stand-in pool; and the handlers that note them (Check of a new resource,
 * Diff with changes) and start it (the first Create, Update or Delete).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { UNKNOWN } from "../../../provider/common/unknown";
import { ConnectionSchema } from "../../../provider/connection/schema";
import { handlersFor } from "../../../provider/runtime/handlers";
import { noteChange, preconnectSettings, resetPreconnect, startPreconnecting } from "../../../provider/transport/preconnect";

/** The stand-in pool's record: hosts dialled, in order, and how many at once. */
const pool = vi.hoisted(() => ({ dials: [] as string[], inFlight: 0, peak: 0, gates: [] as Array<() => void> }));
vi.mock("../../../provider/transport/pool", async (importOriginal) => ({
  ...(await importOriginal<typeof import("../../../provider/transport/pool")>()),
  preconnect: async (conn: { host: string }) => {
    pool.dials.push(conn.host);
    pool.inFlight++;
    pool.peak = Math.max(pool.peak, pool.inFlight);
    await new Promise<void>((r) => pool.gates.push(r));
    pool.inFlight--;
  },
}));
const { dials, gates } = pool;

const conn = (host: string, extra: Record<string, unknown> = {}) =>
  ConnectionSchema.parse({ host, user: "root", password: "pw", ...extra });
const tick = () => new Promise((r) => setTimeout(r, 0));
const openAll = async () => {
  while (gates.length > 0) {
    for (const g of gates.splice(0)) g();
    await tick();
  }
};

const saved = { ...preconnectSettings };
beforeEach(() => {
  dials.length = 0;
  pool.peak = 0;
  resetPreconnect();
  preconnectSettings.enabled = true;
});
afterEach(async () => {
  await openAll();
  Object.assign(preconnectSettings, saved);
});

describe("preconnect", () => {
  it("opens nothing until the engine asks for a change, then the noted hosts in order, a few at a time", async () => {
    for (const h of ["h1", "h2", "h3", "h4", "h5", "h6"]) noteChange(conn(h));
    noteChange(conn("h1"));
    await tick();
    expect(dials).toEqual([]);
    startPreconnecting();
    startPreconnecting();
    await tick();
    expect(dials).toEqual(["h1", "h2", "h3", "h4"]);
    await openAll();
    expect(dials).toEqual(["h1", "h2", "h3", "h4", "h5", "h6"]);
    expect(pool.peak).toBe(preconnectSettings.concurrency);
    // Noted after the start: opened at the next change, never by the note itself.
    noteChange(conn("h7"));
    await tick();
    expect(dials).toHaveLength(6);
    startPreconnecting();
    await tick();
    expect(dials.at(-1)).toBe("h7");
  });

  it("keeps one entry per connection identity: another login to the same host is another connection", async () => {
    noteChange(conn("h1"));
    noteChange(conn("h1"));
    noteChange(conn("h1", { password: "other" }));
    startPreconnecting();
    await openAll();
    expect(dials).toEqual(["h1", "h1"]);
  });

  it("does nothing when turned off", async () => {
    preconnectSettings.enabled = false;
    noteChange(conn("h1"));
    startPreconnecting();
    await openAll();
    expect(dials).toEqual([]);
  });
});

describe("the handlers note the hosts a change will go through", () => {
  const schema = z.object({ connection: ConnectionSchema, n: z.number() }).strict();
  const kind = {
    type: "Fake",
    schema,
    replaceOn: [],
    stateVersion: 1,
    async create() {
      return { id: "fake-1", outs: {} };
    },
    async read() {
      return undefined;
    },
    async update() {
      return {};
    },
    async delete() {},
  };
  const h = handlersFor(kind as never);
  const c = (host: string) => ({ host, user: "root", password: "pw" });

  it("a new resource's check and a changed resource's diff note their host; a preview touches none; the first change opens them", async () => {
    await h.check({}, { connection: c("new-host"), n: 1 });
    // An existing resource's check notes nothing by itself; its diff does when something changed.
    // (The engine diffs the checked inputs against the stored state.)
    const same = (await h.check({ connection: c("same-host"), n: 1 }, { connection: c("same-host"), n: 1 })).inputs;
    await h.diff("id", { ...same, stateVersion: 1 }, same);
    const changed = (await h.check({ connection: c("changed-host"), n: 1 }, { connection: c("changed-host"), n: 2 })).inputs;
    await h.diff("id", { ...changed, n: 1, stateVersion: 1 }, changed);
    // A connection that is not known yet (preview of computed inputs) is not noted.
    await h.check({}, { connection: { host: UNKNOWN }, n: 1 });
    await tick();
    expect(dials).toEqual([]);
    await h.create({ connection: c("new-host"), n: 1 });
    await openAll();
    expect(dials).toEqual(["new-host", "changed-host"]);
  });
});

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HostSnapshots, snapshotSettings, type Observation, type ObservedResult } from "../../../provider/transport/snapshot";

/** A runner that records every call and answers each observation with its own text. */
function fakeHost(answer: (o: Observation) => ObservedResult = (o) => ({ exitCode: 0, stdout: `${o.label}#` })) {
  const calls: string[][] = [];
  let gate: Promise<void> = Promise.resolve();
  const runner = (items: readonly Observation[]) => {
    calls.push(items.map((i) => i.label));
    const held = gate;
    return items.map(async (o) => {
      await held;
      return { ok: true as const, value: answer(o) };
    });
  };
  return {
    calls,
    runner,
    hold(): () => void {
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      return () => open();
    },
  };
}

/** One login: the tests that are not about identities use it for every host. */
const ID = "root-with-key";

const obs = (label: string): Observation => ({ argv: ["sh", "-c", `observe ${label}`], label });

/** Snapshots that learnt observations "a" and "b" on host h1, and the fake host, its calls cleared. */
async function learntOnFirstHost() {
  const s = new HostSnapshots<ObservedResult>();
  const h = fakeHost();
  await s.observe("h1", ID, obs("a"), h.runner);
  await s.observe("h1", ID, obs("b"), h.runner);
  h.calls.length = 0;
  return { s, h };
}

const saved = { ...snapshotSettings };
afterEach(() => Object.assign(snapshotSettings, saved));

describe("HostSnapshots: one observation of a host per engine operation", () => {
  // One observation at a time here; gathering has its own tests below.
  beforeEach(() => {
    snapshotSettings.gatherMs = 0;
  });

  it("answers a host's repeated observation from what was kept: one remote command", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    expect((await s.observe("h1", ID, obs("a"), h.runner)).stdout).toBe("a#");
    expect((await s.observe("h1", ID, obs("a"), h.runner)).stdout).toBe("a#");
    expect(h.calls).toEqual([["a"]]);
    expect(s.hits).toBe(1);
  });

  it("prefetches, on a host's first miss, the observations learnt on other hosts, on one channel", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    for (const l of ["a", "b", "c"]) await s.observe("h1", ID, obs(l), h.runner);
    // What this host already holds is not run again.
    expect(h.calls).toEqual([["a"], ["b"], ["c"]]);
    h.calls.length = 0;
    // The second host: its first observation brings the other two along.
    await s.observe("h2", ID, obs("b"), h.runner);
    expect(h.calls).toEqual([["b", "a", "c"]]);
    expect((await s.observe("h2", ID, obs("c"), h.runner)).stdout).toBe("c#");
    expect((await s.observe("h2", ID, obs("a"), h.runner)).stdout).toBe("a#");
    expect(h.calls).toHaveLength(1);
  });

  it("a plan's miss brings the learnt observations along, for the plans of its siblings asked for before its change ends", async () => {
    snapshotSettings.prefetchForPlans = true;
    const { s, h } = await learntOnFirstHost();
    const asked = s.epoch("h2");
    await s.observe("h2", ID, obs("b"), h.runner, "plan", asked);
    expect(h.calls).toEqual([["b", "a"]]);
    // The change of the first plan ends; a sibling asked for before it ended plans from the prefetch...
    await s.changing("h2", async () => undefined);
    expect((await s.observe("h2", ID, obs("a"), h.runner, "plan", asked)).stdout).toBe("a#");
    expect(h.calls).toHaveLength(1);
    // ...but a plan asked for after the change reads the host again (alone: "b" has run here), and
    // so does a read.
    await s.observe("h2", ID, obs("a"), h.runner, "plan", s.epoch("h2"));
    await s.observe("h2", ID, obs("b"), h.runner, "read");
    expect(h.calls).toEqual([["b", "a"], ["a"], ["b"]]);
  });

  it("a plan's miss after the host's first observations ran brings nothing more along: its siblings have read", async () => {
    snapshotSettings.prefetchForPlans = true;
    const { s, h } = await learntOnFirstHost();
    await s.observe("h2", ID, obs("b"), h.runner, "plan", s.epoch("h2"));
    // The host's first change; the next batch of "b" plans after it.
    await s.changing("h2", async () => undefined);
    await s.observe("h2", ID, obs("b"), h.runner, "plan", s.epoch("h2"));
    expect(h.calls).toEqual([["b", "a"], ["b"]]);
    // A read still brings back what the change dropped.
    await s.observe("h2", ID, obs("b"), h.runner, "read");
    await s.changing("h2", async () => undefined);
    await s.observe("h2", ID, obs("b"), h.runner, "read");
    expect(h.calls).toEqual([["b", "a"], ["b"], ["b", "a"]]);
  });

  it("by default a plan's miss runs only itself", async () => {
    const { s, h } = await learntOnFirstHost();
    await s.observe("h2", ID, obs("b"), h.runner, "plan", s.epoch("h2"));
    expect(h.calls).toEqual([["b"]]);
  });

  it("a fresh observation's miss runs only itself: it takes nothing from earlier, so its siblings could not either", async () => {
    const { s, h } = await learntOnFirstHost();
    await s.observe("h2", ID, obs("b"), h.runner, "fresh");
    expect(h.calls).toEqual([["b"]]);
    // ...and what it read is kept for the host's next read.
    await s.observe("h2", ID, obs("b"), h.runner);
    expect(h.calls).toHaveLength(1);
  });

  it("a fresh observation runs now, drops nothing, and is kept for the host's next read", async () => {
    const s = new HostSnapshots<ObservedResult>();
    let n = 0;
    const h = fakeHost((o) => ({ exitCode: 0, stdout: `${o.label}${n++}` }));
    expect((await s.observe("h1", ID, obs("a"), h.runner)).stdout).toBe("a0");
    expect((await s.observe("h1", ID, obs("b"), h.runner, "fresh")).stdout).toBe("b1");
    expect((await s.observe("h1", ID, obs("b"), h.runner, "fresh")).stdout).toBe("b2");
    expect((await s.observe("h1", ID, obs("a"), h.runner)).stdout).toBe("a0");
    expect((await s.observe("h1", ID, obs("b"), h.runner)).stdout).toBe("b2");
    expect(h.calls).toEqual([["a"], ["b"], ["b"]]);
  });

  it("keeps per connection identity: another login to the same host never gets a kept result", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    await s.observe("h1", "key-A", obs("a"), h.runner);
    await s.observe("h1", "key-B", obs("a"), h.runner);
    expect(h.calls).toEqual([["a"], ["a"]]);
  });

  it("a change through one login drops what every login to the same host kept", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    await s.observe("h1", "key-A", obs("a"), h.runner);
    await s.changing("h1", async () => undefined);
    await s.observe("h1", "key-A", obs("a"), h.runner);
    expect(h.calls).toEqual([["a"], ["a"]]);
  });

  it("drops what was kept when something else runs on the host, before and after it", async () => {
    const s = new HostSnapshots<ObservedResult>();
    let n = 0;
    const h = fakeHost((o) => ({ exitCode: 0, stdout: `${o.label}${n}` }));
    expect((await s.observe("h1", ID, obs("a"), h.runner)).stdout).toBe("a0");
    await s.changing("h1", async () => {
      n = 1;
    });
    expect((await s.observe("h1", ID, obs("a"), h.runner)).stdout).toBe("a1");
    // Other hosts keep theirs.
    await s.observe("h2", ID, obs("a"), h.runner);
    await s.changing("h1", async () => undefined);
    await s.observe("h2", ID, obs("a"), h.runner);
    expect(h.calls.filter((c) => c[0] === "a")).toHaveLength(3);
  });

  it("does not keep an observation that ran while something else ran on the host", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    const release = h.hold();
    const reading = s.observe("h1", ID, obs("a"), h.runner);
    let finishChange!: () => void;
    const change = s.changing("h1", () => new Promise<void>((r) => (finishChange = r)));
    release();
    await reading;
    finishChange();
    await change;
    await s.observe("h1", ID, obs("a"), h.runner);
    expect(h.calls).toEqual([["a"], ["a"]]);
  });

  it("a read issued after a change started never joins an observation begun before it", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    const release = h.hold();
    const first = s.observe("h1", ID, obs("a"), h.runner);
    await s.changing("h1", async () => undefined);
    const second = s.observe("h1", ID, obs("a"), h.runner);
    release();
    await Promise.all([first, second]);
    expect(h.calls).toEqual([["a"], ["a"]]);
  });

  it("joins the same observation in flight instead of running it twice", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    const release = h.hold();
    const both = Promise.all([s.observe("h1", ID, obs("a"), h.runner), s.observe("h1", ID, obs("a"), h.runner)]);
    release();
    expect((await both).map((r) => r.stdout)).toEqual(["a#", "a#"]);
    expect(h.calls).toEqual([["a"]]);
  });

  it("keeps only successes: a failed observation is answered once, then run again", async () => {
    const s = new HostSnapshots<ObservedResult>();
    let fail = true;
    const h = fakeHost((o) => ({ exitCode: fail ? 1 : 0, stdout: o.label }));
    expect((await s.observe("h1", ID, obs("a"), h.runner)).exitCode).toBe(1);
    fail = false;
    expect((await s.observe("h1", ID, obs("a"), h.runner)).exitCode).toBe(0);
    expect(h.calls).toHaveLength(2);
  });

  it("a transport error reaches the caller and is not kept; a prefetched one surfaces nowhere else", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const ok = fakeHost();
    await s.observe("h1", ID, obs("a"), ok.runner);
    await s.observe("h1", ID, obs("b"), ok.runner);
    let calls = 0;
    const broken = (items: readonly Observation[]) => {
      calls++;
      return items.map(() => Promise.reject(new Error("connection reset")));
    };
    await expect(s.observe("h2", ID, obs("a"), broken)).rejects.toThrow("connection reset");
    await expect(s.observe("h2", ID, obs("b"), broken)).rejects.toThrow("connection reset");
    expect(calls).toBe(2);
  });

  it("reads again what is older than maxAgeMs", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    snapshotSettings.maxAgeMs = 0;
    await s.observe("h1", ID, obs("a"), h.runner);
    await new Promise((r) => setTimeout(r, 2));
    await s.observe("h1", ID, obs("a"), h.runner);
    expect(h.calls).toHaveLength(2);
  });

  it("reset() starts a new operation: every host is read again", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    await s.observe("h1", ID, obs("a"), h.runner);
    s.reset();
    await s.observe("h1", ID, obs("a"), h.runner);
    expect(h.calls).toHaveLength(2);
  });

  it("bounds what one miss prefetches", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    snapshotSettings.maxPrefetch = 2;
    for (const l of ["a", "b", "c", "d"]) await s.observe(`x${l}`, ID, obs(l), h.runner);
    h.calls.length = 0;
    await s.observe("h9", ID, obs("d"), h.runner);
    expect(h.calls).toEqual([["d", "a", "b"]]);
  });
});

describe("HostSnapshots: observations issued together go together", () => {
  it("a host's observations issued in the same moment share one channel, whatever their use", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    snapshotSettings.gatherMs = 5;
    const out = await Promise.all([
      s.observe("h1", ID, obs("helper"), h.runner, "fresh"),
      s.observe("h1", ID, obs("rules"), h.runner, "plan"),
      s.observe("h1", ID, obs("modules"), h.runner, "fresh"),
      // The same observation twice in the window runs once.
      s.observe("h1", ID, obs("rules"), h.runner, "plan"),
    ]);
    expect(out.map((r) => r.stdout)).toEqual(["helper#", "rules#", "modules#", "rules#"]);
    expect(h.calls).toEqual([["helper", "rules", "modules"]]);
  });

  it("groups per login and per host: another identity or machine never rides on the group", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    snapshotSettings.gatherMs = 5;
    await Promise.all([
      s.observe("h1", "key-A", obs("a"), h.runner, "fresh"),
      s.observe("h1", "key-B", obs("b"), h.runner, "fresh"),
      s.observe("h2", "key-A", obs("c"), h.runner, "fresh"),
    ]);
    expect(h.calls.sort()).toEqual([["a"], ["b"], ["c"]]);
  });

  it("a fresh observation asked for once its group started runs on its own", async () => {
    const s = new HostSnapshots<ObservedResult>();
    let n = 0;
    const h = fakeHost((o) => ({ exitCode: 0, stdout: `${o.label}${n++}` }));
    snapshotSettings.gatherMs = 2;
    const release = h.hold();
    const first = s.observe("h1", ID, obs("a"), h.runner, "fresh");
    await new Promise((r) => setTimeout(r, 10));
    const second = s.observe("h1", ID, obs("a"), h.runner, "fresh");
    release();
    expect((await first).stdout).toBe("a0");
    expect((await second).stdout).toBe("a1");
    expect(h.calls).toEqual([["a"], ["a"]]);
  });
});

describe("HostSnapshots: a re-checked plan and the changes around it (since)", () => {
  beforeEach(() => {
    snapshotSettings.gatherMs = 0;
  });

  it("a plan asked for before a change ended may take a read begun before the change; one asked for after may not", async () => {
    const s = new HostSnapshots<ObservedResult>();
    let n = 0;
    const h = fakeHost((o) => ({ exitCode: 0, stdout: `${o.label}${n++}` }));
    // The engine asks for a rule's plan: the host had completed no change then.
    const asked = s.epoch("h1");
    expect((await s.observe("h1", ID, obs("rules"), h.runner, "plan", asked)).stdout).toBe("rules0");
    // A sibling resource (which the engine did not order before it) writes a file meanwhile.
    await s.changing("h1", async () => undefined);
    // The rule's plan still starts from its read; its apply re-checks what it changes.
    expect((await s.observe("h1", ID, obs("rules"), h.runner, "plan", asked)).stdout).toBe("rules0");
    // A request that arrives after the change (a dependant) reads the host again, as do reads.
    const later = s.epoch("h1");
    expect(later).toBe(asked + 1);
    expect((await s.observe("h1", ID, obs("rules"), h.runner, "plan", later)).stdout).toBe("rules1");
    expect((await s.observe("h1", ID, obs("other"), h.runner, "read")).stdout).toBe("other2");
    expect(h.calls).toEqual([["rules"], ["rules"], ["other"]]);
  });

  it("a plan joins a read in flight that a change overlapped, when it was asked for before the change ended", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    const asked = s.epoch("h1");
    const release = h.hold();
    const warm = s.observe("h1", ID, obs("rules"), h.runner, "plan", asked);
    await s.changing("h1", async () => undefined);
    const plan = s.observe("h1", ID, obs("rules"), h.runner, "plan", asked);
    release();
    await Promise.all([warm, plan]);
    expect(h.calls).toEqual([["rules"]]);
    // Not kept for reads: it overlapped a change.
    await s.observe("h1", ID, obs("rules"), h.runner, "read");
    expect(h.calls).toHaveLength(2);
  });

  it("without since, or for a failed read, or after reset(), a plan reads the host again", async () => {
    const s = new HostSnapshots<ObservedResult>();
    let fail = false;
    const h = fakeHost((o) => ({ exitCode: fail ? 1 : 0, stdout: o.label }));
    await s.observe("h1", ID, obs("rules"), h.runner, "plan", 0);
    await s.changing("h1", async () => undefined);
    await s.observe("h1", ID, obs("rules"), h.runner, "plan");
    expect(h.calls).toHaveLength(2);
    fail = true;
    await s.changing("h1", async () => undefined);
    const asked = s.epoch("h1");
    expect((await s.observe("h1", ID, obs("rules"), h.runner, "plan", asked)).exitCode).toBe(1);
    fail = false;
    expect((await s.observe("h1", ID, obs("rules"), h.runner, "plan", asked)).exitCode).toBe(0);
    expect(h.calls).toHaveLength(4);
    await s.changing("h1", async () => undefined);
    s.reset();
    await s.observe("h1", ID, obs("rules"), h.runner, "plan", asked);
    expect(h.calls).toHaveLength(5);
  });

  it("a fresh observation never takes a read begun before it, whatever since says", async () => {
    const s = new HostSnapshots<ObservedResult>();
    const h = fakeHost();
    await s.observe("h1", ID, obs("rules"), h.runner, "plan", 0);
    await s.observe("h1", ID, obs("rules"), h.runner, "fresh", 0);
    expect(h.calls).toHaveLength(2);
  });
});

describe("HostSnapshots: each observation of a group answers when it is done", () => {
  it("a fast observation's caller resumes before the slow one of its group ends", async () => {
    const s = new HostSnapshots<ObservedResult>();
    snapshotSettings.gatherMs = 5;
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    const runner = (items: readonly Observation[]) =>
      items.map(async (o) => {
        if (o.label === "slow") await slowGate;
        return { ok: true as const, value: { exitCode: 0, stdout: o.label } };
      });
    const slow = s.observe("h1", ID, obs("slow"), runner, "plan");
    const fast = s.observe("h1", ID, obs("fast"), runner, "fresh");
    expect((await fast).stdout).toBe("fast");
    let slowDone = false;
    void slow.then(() => (slowDone = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(slowDone).toBe(false);
    releaseSlow();
    expect((await slow).stdout).toBe("slow");
  });
});

describe("HostSnapshots: a change brings the host's unseen reads along (followChanges)", () => {
  beforeEach(() => {
    snapshotSettings.gatherMs = 0;
  });

  /** A change that holds until released, and answers the reads run after it with `answer`. */
  function heldChange(answer: (o: Observation) => ObservedResult = (o) => ({ exitCode: 0, stdout: `${o.label} after` })) {
    const followed: string[][] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const run = (after: readonly Observation[]) => {
      followed.push(after.map((o) => o.label));
      const change = gate.then(() => "changed");
      return { change, after: after.map((o) => change.then(() => ({ ok: true as const, value: answer(o) }))) };
    };
    return { followed, run, release: () => open() };
  }

  it("a change runs, after itself, the learnt reads this host has not run; plans asked for during or after it take them", async () => {
    const { s, h } = await learntOnFirstHost();
    const asked = s.epoch("h2");
    await s.observe("h2", ID, obs("a"), h.runner, "plan", asked);
    const c = heldChange();
    const done = s.change("h2", ID, c.run);
    // "a" ran on this host already: only "b" follows the change.
    expect(c.followed).toEqual([["b"]]);
    // A sibling asked for while the change runs waits for the read that follows it.
    const during = s.observe("h2", ID, obs("b"), h.runner, "plan", asked);
    c.release();
    expect(await done).toBe("changed");
    expect((await during).stdout).toBe("b after");
    // One asked for once the change ended takes it too: no other change ran beside it.
    const later = s.epoch("h2");
    expect(later).toBe(asked + 1);
    expect((await s.observe("h2", ID, obs("b"), h.runner, "plan", later)).stdout).toBe("b after");
    // And it is kept for reads, as a read taken after the change.
    expect((await s.observe("h2", ID, obs("b"), h.runner, "read")).stdout).toBe("b after");
    expect(h.calls).toEqual([["a"]]);
  });

  it("beside another change, its reads count only as begun when it was asked for, and are not kept", async () => {
    const { s, h } = await learntOnFirstHost();
    const asked = s.epoch("h2");
    const c = heldChange();
    const done = s.change("h2", ID, c.run);
    expect(c.followed).toEqual([["a", "b"]]);
    // A sibling's change starts while it runs (and may run on the host between it and its reads).
    await s.changing("h2", async () => undefined);
    c.release();
    await done;
    // A plan asked for before both ended may take the read; one asked for after may not, nor a read.
    expect((await s.observe("h2", ID, obs("a"), h.runner, "plan", asked)).stdout).toBe("a after");
    expect(h.calls).toEqual([]);
    expect((await s.observe("h2", ID, obs("a"), h.runner, "plan", s.epoch("h2"))).stdout).toBe("a#");
    expect((await s.observe("h2", ID, obs("b"), h.runner, "read")).stdout).toBe("b#");
    expect(h.calls).toEqual([["a"], ["b"]]);
  });

  it("not kept when something else started on the host before its reads were done", async () => {
    const { s, h } = await learntOnFirstHost();
    let releaseReads!: () => void;
    const readsGate = new Promise<void>((r) => (releaseReads = r));
    const done = s.change("h2", ID, (after) => ({
      change: Promise.resolve("changed"),
      after: after.map((o) => readsGate.then(() => ({ ok: true as const, value: { exitCode: 0, stdout: `${o.label} after` } }))),
    }));
    await done;
    const next = s.changing("h2", async () => undefined);
    releaseReads();
    await next;
    expect((await s.observe("h2", ID, obs("a"), h.runner, "read")).stdout).toBe("a#");
  });

  it("takes over the login's observations waiting to start together: they run after the change, not beside it", async () => {
    const { s, h } = await learntOnFirstHost();
    snapshotSettings.gatherMs = 20;
    const asked = s.epoch("h2");
    // A sibling's plan, issued a moment before the change: it waits for the host's other reads.
    const plan = s.observe("h2", ID, obs("b"), h.runner, "plan", asked);
    const c = heldChange();
    const done = s.change("h2", ID, c.run);
    // It goes first, then what the host has not run yet; each once.
    expect(c.followed).toEqual([["b", "a"]]);
    c.release();
    await done;
    expect((await plan).stdout).toBe("b after");
    await new Promise((r) => setTimeout(r, 40));
    expect(h.calls).toEqual([]);
  });

  it("runs again after the change what the caller asks for (then), even a read the host has run, for its next plan", async () => {
    const { s, h } = await learntOnFirstHost();
    // A batch read "a" and "b" on h1 and applies there, expecting more members.
    const c = heldChange();
    const done = s.change("h1", ID, c.run, [obs("a"), obs("a")]);
    expect(c.followed).toEqual([["a"]]);
    c.release();
    await done;
    // Its next batch plans from the read taken after the apply: no round trip of its own.
    expect((await s.observe("h1", ID, obs("a"), h.runner, "plan", s.epoch("h1"))).stdout).toBe("a after");
    expect(h.calls).toEqual([]);
  });

  it("a runner that throws at once answers the change and the observations it took over with its error", async () => {
    const { s, h } = await learntOnFirstHost();
    snapshotSettings.gatherMs = 20;
    const plan = s.observe("h2", ID, obs("b"), h.runner, "plan", s.epoch("h2"));
    const boom = new Error("no channel");
    await expect(
      s.change("h2", ID, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(plan).rejects.toBe(boom);
    // Nothing was kept or left waiting: the next plan reads the host.
    snapshotSettings.gatherMs = 0;
    expect((await s.observe("h2", ID, obs("b"), h.runner, "plan", s.epoch("h2"))).stdout).toBe("b#");
  });

  it("brings nothing when off, for another login, or once the host ran what was learnt; a failed read is run again", async () => {
    const { s, h } = await learntOnFirstHost();
    snapshotSettings.followChanges = false;
    const off = heldChange();
    off.release();
    await s.change("h2", ID, off.run);
    expect(off.followed).toEqual([[]]);
    snapshotSettings.followChanges = true;
    // Everything learnt has run on h1 through this login; another login has run nothing.
    const mine = heldChange();
    mine.release();
    await s.change("h1", ID, mine.run);
    const other = heldChange();
    other.release();
    await s.change("h1", "another-login", other.run);
    expect([mine.followed, other.followed]).toEqual([[[]], [["a", "b"]]]);
    // A read that failed after a change answers a plan that had joined it, then runs again.
    const failing = heldChange((o) => ({ exitCode: 1, stdout: o.label }));
    const asked = s.epoch("h3");
    const done = s.change("h3", ID, failing.run);
    const joined = s.observe("h3", ID, obs("a"), h.runner, "plan", asked);
    failing.release();
    await done;
    expect((await joined).exitCode).toBe(1);
    expect((await s.observe("h3", ID, obs("a"), h.runner, "plan", asked)).exitCode).toBe(0);
    expect(h.calls).toEqual([["a"]]);
  });
});

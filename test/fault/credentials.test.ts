/**
 * Fault class: mixed credentials and host keys for one host in one program. Resources of every kind
 * on ctlab13 are created concurrently through the runtime handlers, as the engine calls them: one
 * set with the good key and pinned host key, others with another host's key pinned, with a key the
 * host does not authorise, and with a wrong password only. Each bad one fails alone, with an error
 * naming the host and saying what was wrong; nothing is created by a bad one (batching and the
 * connection pool must key on the complete connection identity: issue #12 defect 1); a refresh with
 * bad credentials fails instead of reporting the rule as unchanged; destroy restores the host.
 */
import { utils } from "ssh2";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { closeAll } from "../../provider/transport/pool";
import { isRoot, labHost, labRunning, loadLab, requireLab } from "../lab/inventory";
import { connectionOf, hostSh, labelOf, resetFaultHost, snapshot, tagCount } from "./faults";
import { LAB_MODULES, destroy, expectErrorSaying, h, type Kind, type Props } from "./programs";

const HOST = "ctlab13";

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) await resetFaultHost(HOST);
});

/** The bad identities, and what the error must say about each. */
function badConnections(): Array<{ name: string; connection: Props; says: RegExp }> {
  const good = connectionOf(HOST);
  const lab = requireLab();
  const stranger = utils.generateKeyPairSync("ed25519");
  return [
    { name: "wrong-hostkey", connection: { ...good, hostKey: labHost(lab, "ctlab12").hostKey }, says: /host key/i },
    { name: "unauthorised-key", connection: { ...good, privateKey: stranger.private }, says: /authenticat/i },
    {
      name: "password",
      connection: { host: good.host, user: "root", password: "not-the-password", hostKey: good.hostKey },
      says: /authenticat/i,
    },
  ];
}

describe.skipIf(!isRoot() || !labRunning())("mixed credentials and host keys for one host in one program", () => {
  beforeEach(async (ctx) => {
    requireLab(ctx);
    await resetFaultHost(HOST);
  });

  it.each(["iptables", "nftables"] as const)(
    "NotrackRule (%s): each bad identity fails alone and creates nothing; refresh with it fails",
    async (backend) => {
      const before = await snapshot(HOST);
      const bad = badConnections();
      const rule = (name: string, port: number, connection: Props): Props => ({
        connection,
        ruleName: name,
        chain: "PREROUTING",
        protocol: "udp",
        destinationPort: port,
        backend,
      });
      const programs = [
        { name: "good-a", conn: connectionOf(HOST), port: 7400 },
        ...bad.map((b, i) => ({ name: b.name, conn: b.connection, port: 7401 + i })),
        { name: "good-b", conn: connectionOf(HOST), port: 7409 },
      ];
      // check, then every create at once, as the engine runs independent resources.
      const checked = await Promise.all(programs.map(async (p) => (await h("NotrackRule").check({}, rule(p.name, p.port, p.conn))).inputs));
      const results = await Promise.allSettled(checked.map((c) => h("NotrackRule").create(c)));

      const byName = new Map(programs.map((p, i) => [p.name, results[i]]));
      for (const name of ["good-a", "good-b"]) {
        const r = byName.get(name)!;
        expect(r.status, r.status === "rejected" ? String((r as PromiseRejectedResult).reason) : "").toBe("fulfilled");
        expect(await tagCount(HOST, name)).toEqual({ live: 1, saved: 1 });
      }
      for (const b of bad) {
        const r = byName.get(b.name)!;
        expect.soft(r.status, `${b.name} must fail`).toBe("rejected");
        if (r.status === "rejected") expectErrorSaying(r.reason, labelOf(HOST).replace(/:22$/, ""), b.says);
        expect.soft(await tagCount(HOST, b.name), `${b.name} created nothing`).toEqual({ live: 0, saved: 0 });
      }

      // Refresh of a good rule through each bad identity, at the same time as a good refresh (so
      // that they can share a batch): an error, never "unchanged".
      const goodA = (byName.get("good-a") as PromiseFulfilledResult<{ id: string; outs: Props }>).value;
      const goodB = (byName.get("good-b") as PromiseFulfilledResult<{ id: string; outs: Props }>).value;
      const reads = await Promise.all([
        h("NotrackRule")
          .read(goodB.id, goodB.outs as Props)
          .then((x) => x.id),
        ...bad.map((b) =>
          h("NotrackRule")
            .read(goodA.id, { ...goodA.outs, connection: b.connection })
            .then((x) => `returned ${JSON.stringify(x.id)}`)
            .catch((e: Error) => e),
        ),
      ]);
      expect(reads[0], "the good refresh").toBe(goodB.id);
      bad.forEach((b, i) => expect.soft(reads[i + 1], `refresh through ${b.name}`).toBeInstanceOf(Error));

      // Destroy what was created (a bad one that was created anyway is destroyed through the good identity).
      const goodConnection = checked[0].connection;
      for (const r of results) {
        if (r.status === "fulfilled")
          await destroy("NotrackRule", { id: r.value.id, outs: { ...(r.value.outs as Props), connection: goodConnection } });
      }
      expect(await snapshot(HOST)).toBe(before);
    },
  );

  it("every kind at once: the good ones succeed, each bad identity fails alone, nothing is written by a bad one", async () => {
    const before = await snapshot(HOST);
    const bad = badConnections();
    const calls: Array<{ kind: Kind; who: string; news: Props; says?: RegExp }> = [
      { kind: "ModuleBlacklist", who: "good", news: { connection: connectionOf(HOST), modules: LAB_MODULES, initramfs: "never" } },
      { kind: "ConntrackHelperSetting", who: "good", news: { connection: connectionOf(HOST) } },
      ...bad.map((b) => ({
        kind: "ModuleBlacklist" as Kind,
        who: b.name,
        news: { connection: b.connection, modules: ["nf_conntrack_sip"], initramfs: "never", fileName: `ctk-${b.name}.conf` },
        says: b.says,
      })),
      ...bad.map((b) => ({
        kind: "ConntrackHelperSetting" as Kind,
        who: b.name,
        news: { connection: b.connection, fileName: `ctk-helper-${b.name}.conf` },
        says: b.says,
      })),
    ];
    const results = await Promise.allSettled(
      calls.map(async (c) => {
        const checked = await h(c.kind).check({}, c.news);
        expect(checked.failures).toBeUndefined();
        return h(c.kind).create(checked.inputs);
      }),
    );
    const made: Array<{ kind: Kind; id: string; outs: Props }> = [];
    for (const [i, c] of calls.entries()) {
      const r = results[i];
      if (r.status === "fulfilled") made.push({ kind: c.kind, id: r.value.id, outs: r.value.outs as Props });
      if (c.who === "good") {
        expect(r.status, r.status === "rejected" ? String(r.reason) : "").toBe("fulfilled");
      } else {
        expect.soft(r.status, `${c.kind} with ${c.who} must fail`).toBe("rejected");
        if (r.status === "rejected") expectErrorSaying(r.reason, labelOf(HOST).replace(/:22$/, ""), c.says!);
      }
    }
    // Only the good blacklist's file exists.
    expect(await hostSh(HOST, "ls -A /etc/modprobe.d")).toBe("pulumi-conntrack-blacklist.conf\n");
    const goodConnection = (await h("ConntrackHelperSetting").check({}, { connection: connectionOf(HOST) })).inputs.connection;
    for (const m of made.reverse()) await destroy(m.kind, { id: m.id, outs: { ...m.outs, connection: goodConnection } });
    expect(await snapshot(HOST)).toBe(before);
  });
});

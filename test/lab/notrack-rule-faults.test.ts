/**
 * NotrackRule under the faults hostile testing found (issue 12): mixed credentials and host keys
 * for one host in one batch, an apply cut off from its client while it waits for the host lock,
 * `iptables-nft-save` warning on stderr about legacy tables next to a big raw table, and a
 * read-only `/etc`. Each ends with the host as the program asks (or as before) and errors that say
 * what was done. Driven through the dynamic-provider handlers; host state read with `lab.sh exec`.
 * Hosts are reset before and after.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { APPLY_SCRIPT as NOTRACK_APPLY } from "../../provider/resources/notrack-rule/apply";
import { EXIT } from "../../provider/transport/exit-codes";
import { handler } from "../../provider/runtime";
import { contentSha256 } from "../../provider/transport/files";
import { closeAll } from "../../provider/transport/pool";
import { hostExec, hostSh, isRoot, labConnection, labHost, labRunning, loadLab, requireLab, resetHost, setBackend } from "./inventory";

const h = () => handler("NotrackRule");
type Props = Record<string, unknown>;
const HOSTS = ["ctlab3", "ctlab4", "ctlab5", "ctlab6"];

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) for (const name of HOSTS) await resetHost(name);
});

const rule = (name: string, port: number, extra: Props = {}): Props => ({
  connection: labConnection(name),
  ruleName: `fault-${port}`,
  owner: `lab/faults/${name}/${port}`,
  backend: "iptables",
  chain: "PREROUTING",
  protocol: "udp",
  destinationPort: port,
  ...extra,
});

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return String((e as Error).message);
  }
  return "(no error)";
}

/** What a host holds that a NotrackRule may touch, to compare before and after, byte for byte. */
async function snapshot(name: string): Promise<string> {
  return hostSh(
    name,
    // Chain and rule counters change with every packet the host sees: not what is compared.
    "iptables-nft-save -t raw 2>/dev/null | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; echo ==; iptables-legacy-save -t raw 2>/dev/null | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; echo ==; nft list table inet pulumi_conntrack 2>/dev/null | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'; echo ==; " +
      'for f in /etc/iptables/rules.v4 /etc/nftables.conf; do echo "$f"; [ -e "$f" ] && sha256sum < "$f"; done; echo ==; ls -a /etc /etc/iptables | grep ctk-tmp; true',
  );
}

/** Whether an apply script of this host (this network namespace: the PID space is the machine's) waits for or holds the lock. */
const applyRunning = async (name: string, pattern = "flock -w 10[0] 9") =>
  (
    await hostExec(name, [
      "sh",
      "-c",
      `for p in $(pgrep -f "${pattern}"); do [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/self/ns/net)" ] && exit 0; done; exit 1`,
    ])
  ).code === 0;

const tempFiles = (name: string) => hostSh(name, "ls -a /etc /etc/iptables 2>/dev/null | grep -c '^\\.ctk-tmp' || true");

describe.skipIf(!isRoot() || !labRunning())("NotrackRule faults on lab hosts", () => {
  beforeEach(async (ctx) => {
    requireLab(ctx);
    for (const name of HOSTS) await resetHost(name);
    await setBackend("ctlab6", "nft");
  });

  it("a rule with a wrong hostKey or an unauthorised key batched with a good one fails alone; the good one is created", async () => {
    const inv = requireLab();
    const wrongHostKey = labHost(inv, "ctlab4").hostKey;
    const wrongKey = execFileSync("sh", [
      "-c",
      'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -f "$d/k" && cat "$d/k" && rm -rf "$d"',
    ]).toString();
    const good = rule("ctlab6", 7101);
    const badHost = rule("ctlab6", 7102, { connection: { ...labConnection("ctlab6"), hostKey: wrongHostKey } });
    const badKey = rule("ctlab6", 7103, { connection: { ...labConnection("ctlab6"), privateKey: wrongKey } });
    const [g, bh, bk] = await Promise.allSettled([h().create(good), h().create(badHost), h().create(badKey)]);
    expect(g.status).toBe("fulfilled");
    expect(bh.status).toBe("rejected");
    expect(String((bh as PromiseRejectedResult).reason?.message)).toMatch(/host key mismatch/i);
    expect(bk.status).toBe("rejected");
    expect(String((bk as PromiseRejectedResult).reason?.message)).toMatch(/authentication failed/i);
    const live = await hostSh("ctlab6", "iptables-nft-save -t raw 2>/dev/null");
    expect(live).toContain("--dport 7101");
    expect(live).not.toContain("--dport 7102");
    expect(live).not.toContain("--dport 7103");
    const saved = await hostSh("ctlab6", "cat /etc/iptables/rules.v4 2>/dev/null || true");
    expect(saved).not.toMatch(/--dport 710[23]/);

    // A refresh with credentials that do not work fails, even batched with one that works.
    const made = (g as PromiseFulfilledResult<{ id: string; outs: Props }>).value;
    const [rg, rb] = await Promise.allSettled([
      h().read(made.id, made.outs),
      h().read(made.id, { ...made.outs, connection: (badKey as Props).connection }),
    ]);
    expect(rg.status).toBe("fulfilled");
    expect((rg as PromiseFulfilledResult<{ id?: string }>).value.id).toBe(made.id);
    expect(rb.status).toBe("rejected");
    expect(String((rb as PromiseRejectedResult).reason?.message)).toMatch(/authentication failed/i);
    await h().delete(made.id, made.outs);
  });

  it.each([
    {
      name: "ctlab6",
      step: "waiting for the host lock",
      backend: "iptables",
      lock: "/run/pulumi-conntrack.lock",
      waiting: "flock -w 10[0] 9",
      listing: "iptables-nft-save -t raw 2>/dev/null",
      saved: "cat /etc/iptables/rules.v4 2>/dev/null || true",
    },
    {
      name: "ctlab5",
      step: "waiting for the host lock",
      backend: "nftables",
      lock: "/run/pulumi-conntrack.lock",
      waiting: "flock -w 10[0] 9",
      listing: "nft list table inet pulumi_conntrack 2>/dev/null || true",
      saved: "cat /etc/nftables.conf",
    },
    // iptables-legacy-restore -w waits for the xtables lock: cut off inside the restore itself.
    {
      name: "ctlab4",
      step: "inside iptables-legacy-restore",
      backend: "iptables",
      legacy: true,
      lock: "/run/xtables.lock",
      waiting: "iptables-legacy-restor[e] -w 60",
      listing: "iptables-legacy-save -t raw 2>/dev/null",
      saved: "cat /etc/iptables/rules.v4 2>/dev/null || true",
    },
  ])("a create cut off $step converges on the next run; destroy leaves $name as before", async (c) => {
    if (c.legacy) await setBackend(c.name, "legacy");
    const before = await snapshot(c.name);
    const progs = Array.from({ length: 4 }, (_, i) => rule(c.name, 7200 + i, { backend: c.backend }));
    const release = `/run/ctk-release-${c.name}`;
    await hostSh(c.name, `rm -f ${release}`);
    const holder = hostExec(c.name, ["sh", "-c", `exec flock ${c.lock} sh -c 'while [ ! -e ${release} ]; do sleep 0.2; done'`]);
    // The apply is waiting for the lock once a `flock -w` runs on the host.
    const first = Promise.allSettled(progs.map((p) => h().create(p)));
    let reached = false;
    for (let i = 0; i < 200 && !reached; i++) {
      reached = await applyRunning(c.name, c.waiting);
      if (!reached) await new Promise((r) => setTimeout(r, 100));
    }
    expect(reached, `the apply reached the step: ${c.step}`).toBe(true);
    await closeAll();
    const cut = await first;
    expect(cut.every((r) => r.status === "rejected")).toBe(true);
    await hostSh(c.name, `touch ${release}`);
    await holder;
    // The cut-off run goes on by itself once the lock is free; wait until it is done.
    for (let i = 0; i < 100; i++) {
      if (!(await applyRunning(c.name))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await hostSh(c.name, `rm -f ${release}`);
    // The cut-off run went on without its client: its rules are live under the first attempt's tags,
    // all of them or (when the cut came before its standard input, the new saved ruleset, had
    // arrived) none: it refuses to install half an input and changes nothing. Never an empty file.
    const orphans = await hostSh(c.name, c.listing);
    const counts = progs.map((_, i) => orphans.split("\n").filter((l) => l.includes(`dport ${7200 + i} `)).length);
    expect([progs.map(() => 1), progs.map(() => 0)], `orphans ${counts}`).toContainEqual(counts);
    const savedOrphans = await hostSh(c.name, c.saved);
    for (let i = 0; i < progs.length; i++)
      expect(
        savedOrphans.split("\n").filter((l) => l.includes(`dport ${7200 + i} `)),
        `saved orphan ${7200 + i}`,
      ).toHaveLength(counts[i]);

    const again = await Promise.all(progs.map((p) => h().create(p)));
    const live = await hostSh(c.name, c.listing);
    const saved = await hostSh(c.name, c.saved);
    for (const [i, m] of again.entries()) {
      const port = 7200 + i;
      expect(
        live.split("\n").filter((l) => l.includes(`dport ${port} `)),
        `live ${port}`,
      ).toHaveLength(1);
      expect(
        saved.split("\n").filter((l) => l.includes(`dport ${port} `)),
        `saved ${port}`,
      ).toHaveLength(1);
      expect(live).toContain(m.id);
      expect(saved).toContain(m.id);
    }
    expect(await tempFiles(c.name)).toBe("0\n");
    for (const m of again) await h().delete(m.id, m.outs);
    expect(await snapshot(c.name)).toBe(before);
  });

  it.each([
    { name: "ctlab5", backend: "nftables", batch: "add table inet pulumi_conntrack\n", file: "/etc/nftables.conf" },
    {
      name: "ctlab6",
      backend: "iptables",
      batch: "*raw\n-A PREROUTING -p udp --dport 7301 -j NOTRACK\nCOMMIT\n",
      file: "/etc/iptables/rules.v4",
    },
  ])("an apply whose new saved ruleset arrives cut short changes nothing on $name (not the live rules, not $file)", async (c) => {
    await hostSh(c.name, `mkdir -p /etc/iptables && [ -e ${c.file} ] || printf 'flush ruleset\\n' > ${c.file}`);
    const before = await snapshot(c.name);
    const current = (await hostSh(c.name, `sha256sum < ${c.file} | cut -c1-64`)).trim();
    const whole = `${await hostSh(c.name, `cat ${c.file}`)}# the new saved ruleset, longer than what arrives\n`;
    const argv = [
      "sh",
      "-c",
      NOTRACK_APPLY,
      "sh",
      "4",
      c.backend,
      c.backend === "iptables" ? "nft" : "",
      c.batch,
      "",
      "",
      "",
      c.file,
      current,
      "0644",
      "",
      contentSha256(whole),
    ];
    // What a client that went away before sending all of its standard input leaves: part of it, or none.
    for (const arrived of [whole.slice(0, 10), ""]) {
      const r = await hostExec(c.name, argv, arrived);
      expect(r.code, r.stderr).toBe(EXIT.INPUT_INCOMPLETE);
      expect(await snapshot(c.name)).toBe(before);
    }
    // The same invocation with its whole input goes through.
    expect((await hostExec(c.name, argv, whole)).code).toBe(0);
    expect(await hostSh(c.name, `cat ${c.file}`)).toBe(whole);
  });

  it("temporary files a killed write left next to the saved ruleset are removed by the next apply; a fresh one of another writer is not", async () => {
    const name = "ctlab6";
    await hostSh(
      name,
      "mkdir -p /etc/iptables && touch /etc/iptables/.ctk-tmp.rules.v4.Ab12Cd /etc/iptables/.ctk-tmp.zz99Yy /etc/iptables/.ctk-tmp.fresh1 && touch -d '-20 minutes' /etc/iptables/.ctk-tmp.zz99Yy",
    );
    const m = await h().create(rule(name, 7501));
    expect((await hostSh(name, "ls -a /etc/iptables | grep '^\\.ctk-tmp' || true")).split("\n").filter(Boolean)).toEqual([
      ".ctk-tmp.fresh1",
    ]);
    await h().delete(m.id, m.outs);
    await hostSh(name, "rm -f /etc/iptables/.ctk-tmp.fresh1");
  });

  it("a big raw table next to legacy tables: no false drift, and every rule is read, updated and deleted", async () => {
    const name = "ctlab3";
    // iptables-nft-save warns on stderr once legacy tables exist.
    await hostSh(name, "iptables-legacy -t raw -S >/dev/null 2>&1; iptables-legacy -t filter -S >/dev/null 2>&1; true");
    const warn = await hostExec(name, ["iptables-nft-save", "-t", "raw"]);
    expect(warn.stderr).toMatch(/legacy tables present/);
    const progs = Array.from({ length: 45 }, (_, i) =>
      rule(name, 7300 + i, { backend: "iptables", ruleName: `legacy-neighbour-rule-with-a-long-name-${i}` }),
    );
    const made = await Promise.all(progs.map((p) => h().create(p)));
    expect(made.every((m) => m.outs.resolvedBackend === "iptables-nft")).toBe(true);
    const read = await Promise.all(made.map((m) => h().read(m.id, m.outs)));
    for (const r of read) {
      expect(r.id).toBeDefined();
      expect((r.props as Props).observedDrift).toBeUndefined();
    }
    // An update in place on the big table: iptables-nft-restore is fed no warning text.
    const upd = await h().update(made[20].id, made[20].outs, { ...progs[20], destinationPort: 7399 });
    expect((upd.outs as Props).actions).toEqual(expect.arrayContaining([expect.stringMatching(/^replaced in place/)]));
    const live = await hostSh(name, "iptables-nft-save -t raw 2>/dev/null");
    expect(live).toContain("--dport 7399");
    expect(live).not.toContain("--dport 7320 ");
    await Promise.all(made.map((m, i) => h().delete(m.id, i === 20 ? { ...m.outs, ...(upd.outs as Props) } : m.outs)));
    expect(await hostSh(name, "iptables-nft-save -t raw 2>/dev/null | grep -c pulumi-conntrack || true")).toBe("0\n");
  });

  it("a read-only /etc: the persisted rule fails saying nothing was changed; a persist: false batch-mate is created", async () => {
    const inv = requireLab();
    const name = "ctlab6";
    const pid = labHost(inv, name).sshdPid;
    const before = await snapshot(name);
    execFileSync("nsenter", ["-t", String(pid), "-m", "mount", "-o", "remount,bind,ro", "/etc"]);
    try {
      const [saved, unsaved] = await Promise.allSettled([h().create(rule(name, 7401)), h().create(rule(name, 7402, { persist: false }))]);
      expect(unsaved.status).toBe("fulfilled");
      expect(saved.status).toBe("rejected");
      const msg = String((saved as PromiseRejectedResult).reason?.message);
      expect(msg).toMatch(/nothing was changed for rule/);
      expect(msg).toMatch(/rules\.v4 cannot be written/);
      expect(msg).toMatch(/Read-only file system/i);
      expect(msg).toContain(name === "ctlab6" ? labHost(inv, name).address : "");
      expect(msg).toMatch(/next: .*persist: false/);
      expect(msg).not.toMatch(/live rule is in place/);
      const live = await hostSh(name, "iptables-nft-save -t raw 2>/dev/null");
      expect(live).toContain("--dport 7402");
      expect(live).not.toContain("--dport 7401");
      const made = (unsaved as PromiseFulfilledResult<{ id: string; outs: Props }>).value;
      await h().delete(made.id, made.outs);
    } finally {
      execFileSync("nsenter", ["-t", String(pid), "-m", "mount", "-o", "remount,bind,rw", "/etc"]);
    }
    expect(await snapshot(name)).toBe(before);
  });
});

/**
 * ConntrackHelperSetting on real hosts whose kernel (this machine's, >= 6.0, nf_conntrack built in)
 * has no automatic-assignment toggle: the removed-toggle path for both values of `enabled`, stale
 * option removal, file management, drift and repair, delete, and refresh of an unreachable host.
 * Driven through the dynamic-provider handlers; host state asserted with `lab.sh exec`, not with the
 * code under test. Uses ctlab1 and ctlab2, reset before and after.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../provider/common/markers";
import { handler } from "../../provider/runtime";
import { closeAll } from "../../provider/transport/pool";
import { isRoot, labHost, loadLab, requireLab, resetHost, hostSh } from "./inventory";

const TYPE = "ConntrackHelperSetting";
const DEFAULT_FILE = "/etc/modprobe.d/pulumi-conntrack-helper.conf";
const MINE = ["ctlab1", "ctlab2"];

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) for (const h of MINE) await resetHost(h);
});

beforeEach(async () => {
  requireLab();
  for (const h of MINE) await resetHost(h);
});

/** Program inputs for a lab host (root, or `ctlab` through sudo). */
function program(name: string, extra: Record<string, unknown> = {}, asSudoUser = false): Record<string, unknown> {
  const inv = requireLab();
  const h = labHost(inv, name);
  const connection = {
    host: h.address,
    user: asSudoUser ? inv.user : "root",
    sudo: asSudoUser,
    privateKey: readFileSync(inv.privateKeyPath, "utf8"),
    hostKey: h.hostKey,
  };
  return { connection, ...extra };
}

/** check, then create, as the engine does; returns id and outputs. */
async function create(news: Record<string, unknown>) {
  const c = await handler(TYPE).check({}, news);
  expect(c.failures).toBeUndefined();
  return handler(TYPE).create(c.inputs);
}

const sh = hostSh;

/** Every file under /etc/modprobe.d with its content: the host state this resource may touch. */
function modprobeDir(name: string): Promise<string> {
  return sh(
    name,
    'cd /etc/modprobe.d && for f in * .[!.]*; do [ -e "$f" ] || continue; printf "== %s %s\\n" "$f" "$(stat -c %a "$f")"; cat "$f"; done',
  );
}

describe("ConntrackHelperSetting on a kernel without the toggle (>= 6.0)", () => {
  it("enabled: false succeeds, writes nothing, and says automatic assignment does not exist here", async () => {
    const before = await modprobeDir("ctlab1");
    const { id, outs } = await create(program("ctlab1"));
    const inv = requireLab();
    expect(id).toBe(`nf_conntrack_helper@${labHost(inv, "ctlab1").address}:22`);
    expect(outs).toMatchObject({
      enabled: false,
      persist: true,
      toggle: "removed",
      nfConntrack: "builtin",
      liveValue: null,
      moduleParameter: null,
      persistedFile: null,
      persistedContent: null,
      persistence: "not-applicable",
      previousLiveValue: null,
      previousFileContent: null,
      actions: [],
      warnings: [],
      stateVersion: 1,
    });
    expect(outs.kernelRelease).toBe((await sh("ctlab1", "uname -r")).trim());
    expect(outs.notes.join(" ")).toMatch(/does not exist on this kernel.*CT --helper/);
    expect(await modprobeDir("ctlab1")).toBe(before);

    // Refresh: nothing drifted, the inputs come back as the program's.
    const r = await handler(TYPE).read(id, outs);
    expect(r.id).toBe(id);
    expect(r.inputs).toMatchObject({ enabled: false, persist: true });
    expect((await handler(TYPE).diff(id, r.props!, (await handler(TYPE).check({}, program("ctlab1"))).inputs)).changes).toBe(false);

    // Update in place (persist off) and delete: still nothing written.
    const u = await handler(TYPE).update(id, outs, (await handler(TYPE).check({}, program("ctlab1", { persist: false }))).inputs);
    expect(u.outs).toMatchObject({ persist: false, toggle: "removed", actions: [] });
    await handler(TYPE).delete(id, u.outs);
    expect(await modprobeDir("ctlab1")).toBe(before);
  });

  it("enabled: true fails, saying explicit CT --helper rules are the only way, and changes nothing", async () => {
    const before = await modprobeDir("ctlab1");
    const err = await create(program("ctlab1", { enabled: true })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe("UnsupportedError");
    expect((err as Error).message).toMatch(
      /10\.213\.0\.11:22: kernel .* has no automatic conntrack helper assignment \(removed in Linux 6\.0\)/,
    );
    expect((err as Error).message).toMatch(/only way.*-j CT --helper/);
    expect(await modprobeDir("ctlab1")).toBe(before);
  });

  it("removes a stale option line from its file, and delete puts the file back as it was", async () => {
    // The seed notes' file, made by hand before this resource existed.
    const handMade = "# no helpers, see OPS-1\noptions nf_conntrack nf_conntrack_helper=0\n";
    await sh(
      "ctlab1",
      `printf '%s' '${handMade}' > /etc/modprobe.d/no_conntrack_helper.conf && chmod 0640 /etc/modprobe.d/no_conntrack_helper.conf`,
    );
    const before = await modprobeDir("ctlab1");
    const { id, outs } = await create(program("ctlab1", { fileName: "no_conntrack_helper.conf" }));
    expect(outs.actions).toEqual([expect.stringMatching(/removed \/etc\/modprobe\.d\/no_conntrack_helper\.conf \(stale option.*line 2/)]);
    expect(outs).toMatchObject({ persistedFile: null, previousFileContent: handMade, toggle: "removed" });
    // The file is gone; what remains is the record of it (a dotfile modprobe never reads), for a retry.
    expect(await sh("ctlab1", "ls -A /etc/modprobe.d")).toBe(".no_conntrack_helper.conf.pulumi-conntrack-previous\n");
    await handler(TYPE).delete(id, outs);
    expect(await modprobeDir("ctlab1")).toBe(before);
  });

  it("drift: a stale line put back by hand shows on refresh, and the next update removes it", async () => {
    const news = (await handler(TYPE).check({}, program("ctlab2"))).inputs;
    const { id, outs } = await handler(TYPE).create(news);
    await sh("ctlab2", `printf '%s\\n%s\\n' '${MANAGED_FILE_HEADER}' 'options nf_conntrack nf_conntrack_helper=1' > ${DEFAULT_FILE}`);

    const r = await handler(TYPE).read(id, outs);
    expect(r.props).toMatchObject({ persistedFile: DEFAULT_FILE, persistedContent: expect.stringContaining("nf_conntrack_helper=1") });
    expect(r.inputs).toMatchObject({ enabled: false, persist: false });
    const d = await handler(TYPE).diff(id, r.props!, news);
    expect(d).toMatchObject({ changes: true, replaces: [] });

    const u = await handler(TYPE).update(id, r.props!, news);
    expect(u.outs.actions).toEqual([expect.stringMatching(/removed .*pulumi-conntrack-helper\.conf/)]);
    expect(await sh("ctlab2", `test -e ${DEFAULT_FILE} && echo present || echo absent`)).toBe("absent\n");
    const again = await handler(TYPE).read(id, u.outs);
    expect(again.inputs).toMatchObject({ enabled: false, persist: true });
    expect((await handler(TYPE).diff(id, again.props!, news)).changes).toBe(false);
    await handler(TYPE).delete(id, again.props!);
    expect(await sh("ctlab2", "ls -A /etc/modprobe.d")).toBe("");
  });

  it("reports a stale setting in another file without touching it", async () => {
    await sh(
      "ctlab2",
      "printf 'options nf_conntrack nf_conntrack_helper=1\\n' > /etc/modprobe.d/zz-local.conf; printf 'net.netfilter.nf_conntrack_helper = 1\\n' > /etc/sysctl.d/90-helper.conf",
    );
    const before = await modprobeDir("ctlab2");
    const { id, outs } = await create(program("ctlab2"));
    expect(outs.conflicts).toEqual([
      expect.objectContaining({ source: "modprobe", path: "/etc/modprobe.d/zz-local.conf", line: 1, value: 1, contradicts: true }),
      expect.objectContaining({ source: "sysctl", path: "/etc/sysctl.d/90-helper.conf", line: 1, value: 1, contradicts: true }),
    ]);
    expect(outs.warnings).toEqual([
      expect.stringMatching(/zz-local\.conf:1 .*does not have.*left alone/),
      expect.stringMatching(/90-helper\.conf:1 .*systemd-sysctl fails on it at boot/),
    ]);
    await handler(TYPE).delete(id, outs);
    expect(await modprobeDir("ctlab2")).toBe(before);
  });

  it("refuses to take over a file with other settings, or a symlink, and leaves them alone", async () => {
    await sh(
      "ctlab1",
      "printf 'options nf_conntrack hashsize=65536 nf_conntrack_helper=0\\n' > /etc/modprobe.d/conntrack.conf; ln -s /dev/null /etc/modprobe.d/link.conf",
    );
    const before = await modprobeDir("ctlab1");
    const e1 = await create(program("ctlab1", { fileName: "conntrack.conf" })).catch((e: Error) => e);
    expect((e1 as Error).name).toBe("ConflictError");
    expect((e1 as Error).message).toMatch(
      /conntrack\.conf already exists and holds settings .*line 1: options nf_conntrack hashsize=65536/,
    );
    expect((e1 as Error).message).toMatch(/next: choose another fileName/);
    const e2 = await create(program("ctlab1", { fileName: "link.conf" })).catch((e: Error) => e);
    expect((e2 as Error).message).toMatch(/link\.conf is a symlink/);
    expect(await modprobeDir("ctlab1")).toBe(before);
  });

  it("works as a non-root user through sudo", async () => {
    await sh("ctlab2", `printf '%s\\noptions nf_conntrack nf_conntrack_helper=0\\n' '${MANAGED_FILE_HEADER}' > ${DEFAULT_FILE}`);
    const { id, outs } = await create(program("ctlab2", {}, true));
    expect(outs.actions).toHaveLength(1);
    expect(await sh("ctlab2", "ls -A /etc/modprobe.d")).toBe(".pulumi-conntrack-helper.conf.pulumi-conntrack-previous\n");
    await handler(TYPE).delete(id, outs);
    // Delete puts back what was there before create: the file as found, and removes the record.
    expect(await sh("ctlab2", `cat ${DEFAULT_FILE}`)).toBe(`${MANAGED_FILE_HEADER}\noptions nf_conntrack nf_conntrack_helper=0\n`);
    expect(await sh("ctlab2", "ls -A /etc/modprobe.d")).toBe("pulumi-conntrack-helper.conf\n");
  });

  it("refresh of an unreachable host fails with a clear error instead of dropping the resource", async () => {
    const { id, outs } = await create(program("ctlab1"));
    const unreachable = { ...outs, connection: { ...outs.connection, port: 2, dialErrorLimit: 2, perDialTimeout: 5 } };
    const err = await handler(TYPE)
      .read(id, unreachable)
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe("UnreachableError");
    expect((err as Error).message).toMatch(/root@10\.213\.0\.11:2: .*\n\s+command: ssh connect\n\s+next: /);
    await handler(TYPE).delete(id, outs);
  });
});

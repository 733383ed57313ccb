/**
 * ModuleBlacklist on lab hosts, whose kernel (this machine's) has every netfilter module built in
 * and loads no modules at all: the built-in detection path, management of the one file under
 * /etc/modprobe.d (takeover and byte-for-byte restore, drift and repair, removal), bad names refused
 * before anything reaches the host, and the refusal to keep out what a NotrackRule needs, or the
 * helper module a ConntrackHelperRule attaches.
 * Driven through the dynamic-provider handlers; host state asserted with `lab.sh exec`, not with the
 * code under test. Uses ctlab7 only, reset before and after.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../provider/common/markers";
import { ConflictError, UnsupportedError } from "../../provider/errors";
import { handler } from "../../provider/runtime";
import { closeAll, poolSize } from "../../provider/transport/pool";
import { hostExec, isRoot, labConnection, labHost, loadLab, requireLab, resetHost, setBackend } from "./inventory";

const TYPE = "ModuleBlacklist";
const HOST = "ctlab7";
const FILE = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
const h = () => handler(TYPE);

afterAll(async () => {
  await closeAll();
  if (isRoot() && loadLab()) await resetHost(HOST);
});

beforeEach(async () => {
  requireLab();
  await resetHost(HOST);
});

/** Program inputs for the lab host (root, or `ctlab` through sudo). */
function program(extra: Record<string, unknown> = {}, asSudoUser = false): Record<string, unknown> {
  const inv = requireLab();
  const host = labHost(inv, HOST);
  const connection = {
    host: host.address,
    user: asSudoUser ? inv.user : "root",
    sudo: asSudoUser,
    privateKey: readFileSync(inv.privateKeyPath, "utf8"),
    hostKey: host.hostKey,
  };
  return { connection, ...extra };
}

/** check, then create, as the engine does. */
async function create(news: Record<string, unknown>) {
  const c = await h().check({}, news);
  expect(c.failures).toBeUndefined();
  return h().create(c.inputs);
}

async function sh(cmd: string, stdin?: string): Promise<string> {
  const r = await hostExec(HOST, ["sh", "-c", cmd], stdin);
  if (r.code !== 0) throw new Error(`${HOST}: ${cmd} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Every entry of /etc/modprobe.d with type, mode, owner and a hash of its bytes. */
function modprobeDir(): Promise<string> {
  return sh(
    'cd /etc/modprobe.d && for f in * .[!.]*; do [ -e "$f" ] || [ -L "$f" ] || continue; printf "%s %s %s\\n" "$(stat -c "%F %a %U:%G" "$f")" "$f" "$(sha256sum < "$f" | cut -c1-64)"; done',
  );
}

async function fileOnHost(): Promise<string | null> {
  const r = await hostExec(HOST, ["cat", FILE]);
  return r.code === 0 ? r.stdout : null;
}

describe("ModuleBlacklist on a kernel with everything built in", () => {
  it("writes the file, detects built-in modules and says modprobe.d cannot keep them out", async () => {
    await sh("printf 'options foo bar=1\\n' > /etc/modprobe.d/other.conf");
    const before = await modprobeDir();
    const { id, outs } = await create(program({ modules: ["nf_conntrack", "nf-nat"] }));
    const inv = requireLab();
    expect(id).toBe(`${labHost(inv, HOST).address}:22:${FILE}`);
    expect(outs).toMatchObject({
      modules: ["nf_conntrack", "nf_nat"],
      mode: "disable",
      path: FILE,
      effective: false,
      unloaded: [],
      replacedFile: null,
      initramfsRegenerated: false,
      stateVersion: 1,
    });
    // /sys/module/nf_conntrack exists without initstate here: built in. nf_nat has no sysfs entry
    // and there is no modules.builtin, so it cannot be called built in, but nothing is effective.
    expect(outs.moduleStates).toEqual([
      { name: "nf_conntrack", loaded: false, builtIn: true, blocked: true, effective: false },
      { name: "nf_nat", loaded: false, builtIn: false, blocked: true, effective: false },
    ]);
    const notes = (outs.notes as string[]).join("\n");
    expect(notes).toMatch(/NOT EFFECTIVE for nf_conntrack: built into kernel/);
    expect(notes).toContain("module_blacklist=nf_conntrack");
    expect(notes).toMatch(/loads no modules at all/);
    // The notes that mean "not kept out" are also the warnings output, which the runtime logs.
    expect(outs.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^NOT EFFECTIVE for nf_conntrack: built into kernel/),
        expect.stringMatching(/^NOT EFFECTIVE: kernel .* loads no modules at all/),
      ]),
    );

    expect(await fileOnHost()).toBe(
      [
        MANAGED_FILE_HEADER,
        "# ModuleBlacklist, mode disable: `install <m> /bin/false` runs instead of loading <m>, whether it is",
        "# asked for by name, as a dependency or by the kernel; `blacklist <m>` also ignores its aliases.",
        "# Neither keeps out a module built into the kernel.",
        "install nf_conntrack /bin/false",
        "blacklist nf_conntrack",
        "install nf_nat /bin/false",
        "blacklist nf_nat",
        "",
      ].join("\n"),
    );
    expect(await sh(`stat -c '%a %U:%G' ${FILE}`)).toBe("644 root:root\n");
    // Only the managed file is new; nothing else in the directory changed, no temporary file left.
    const after = await modprobeDir();
    expect(after.split("\n").filter((l) => !before.includes(l))).toEqual([
      expect.stringMatching(/^regular file 644 root:root pulumi-conntrack-blacklist\.conf [0-9a-f]{64}$/),
    ]);
    expect(after).toContain(before.trim());

    await h().delete(id, outs);
    expect(await modprobeDir()).toBe(before);
  });

  it("refuses unload: true for a built-in module, naming the kernel command line, and writes nothing", async () => {
    const before = await modprobeDir();
    const err = await create(program({ modules: ["nf_conntrack"], unload: true })).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(err.message).toMatch(/cannot unload nf_conntrack: built into kernel/);
    expect(err.message).toContain("module_blacklist=nf_conntrack");
    expect(await modprobeDir()).toBe(before);
  });

  it("manages the file through sudo as a non-root user", async () => {
    const { id, outs } = await create(program({ modules: ["nf_conntrack"], mode: "blacklist" }, true));
    expect((await h().read(id, outs)).props).toEqual(outs);
    expect(await sh(`stat -c '%a %U:%G' ${FILE}; grep -v '^#' ${FILE}`)).toBe("644 root:root\nblacklist nf_conntrack\n");
    expect((outs.notes as string[]).some((n) => n.startsWith('mode "blacklist" is weak'))).toBe(true);
    expect(outs.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^mode "blacklist" is weak/)]));
    await h().delete(id, outs);
    expect(await fileOnHost()).toBeNull();
  });
});

describe("ModuleBlacklist file management", () => {
  it("takes over a foreign file and restores it byte for byte, with its mode, on delete", async () => {
    // No trailing newline, a non-ASCII byte sequence, mode 600: all must come back exactly.
    await sh(`printf 'blacklist pcspkr\\n# caf\\303\\251\\ninstall foo /bin/true' > ${FILE} && chmod 600 ${FILE}`);
    const before = await modprobeDir();
    const original = await sh(`od -An -tx1 ${FILE}`);
    const { id, outs } = await create(program({ modules: ["nf_conntrack"] }));
    expect(outs.replacedFile).toEqual({
      mode: "600",
      base64: Buffer.from("blacklist pcspkr\n# café\ninstall foo /bin/true").toString("base64"),
    });
    const managed = (await fileOnHost())!;
    expect(managed.split("\n")[0]).toBe(MANAGED_FILE_HEADER);
    expect(managed).toContain("install nf_conntrack /bin/false\nblacklist nf_conntrack\n");
    expect(managed).not.toMatch(/^blacklist pcspkr$/m);

    await h().delete(id, outs);
    expect(await sh(`od -An -tx1 ${FILE}`)).toBe(original);
    expect(await modprobeDir()).toBe(before);
  });

  it("reports a hand edit and a removal as drift, and the next update repairs them", async () => {
    const news = program({ modules: ["nf_conntrack", "nf_nat"] });
    const { id, outs } = await create(news);
    const wanted = await fileOnHost();
    const checked = (await h().check({}, news)).inputs;

    // A refresh of an untouched host finds nothing: the same outputs, and the next diff is empty.
    const clean = await h().read(id, outs);
    expect(clean.props).toEqual(outs);
    expect(clean.inputs).toEqual(checked);
    expect(await h().diff(id, clean.props, checked)).toMatchObject({ changes: false });

    // An operator drops the nf_nat lines.
    await sh(`sed -i '/nf_nat/d' ${FILE}`);
    const edited = await h().read(id, clean.props);
    expect(edited.inputs).toMatchObject({ modules: ["nf_conntrack"] });
    expect(edited.props.drift).toEqual([`${FILE} was edited by hand; no longer keeps out nf_nat`]);
    expect(edited.props.driftRepairable).toBe(true);
    expect(await h().diff(id, edited.props, checked)).toMatchObject({ changes: true, replaces: [] });
    const repaired = await h().update(id, edited.props, checked);
    expect(await fileOnHost()).toBe(wanted);
    expect(repaired.outs).toMatchObject({ drift: [], driftRepairable: false });

    // An edit that keeps every module line still shows, and is still reverted.
    await sh(`printf 'options nf_conntrack hashsize=1\\n' >> ${FILE}`);
    const appended = await h().read(id, repaired.outs);
    expect(appended.inputs).toMatchObject({ modules: ["nf_conntrack", "nf_nat"] });
    expect(appended.props).toMatchObject({ drift: [`${FILE} was edited by hand`], driftRepairable: true });
    expect(await h().diff(id, appended.props, checked)).toMatchObject({ changes: true });
    const reverted = await h().update(id, appended.props, checked);
    expect(await fileOnHost()).toBe(wanted);

    // The file removed by hand.
    await sh(`rm ${FILE}`);
    const removed = await h().read(id, reverted.outs);
    expect(removed.inputs).toMatchObject({ modules: [] });
    expect(removed.props).toMatchObject({ drift: [`${FILE} was removed`], driftRepairable: true });
    expect(await h().diff(id, removed.props, checked)).toMatchObject({ changes: true });
    const recreated = await h().update(id, removed.props, checked);
    expect(await fileOnHost()).toBe(wanted);

    await h().delete(id, recreated.outs);
    expect(await fileOnHost()).toBeNull();
  });

  it("rewrites the file for another module list and mode, and never touches a file that is no longer its own", async () => {
    const { id, outs } = await create(program({ modules: ["nf_conntrack"] }));
    const news = (await h().check({}, program({ modules: ["nf_nat", "iptable_nat"], mode: "blacklist" }))).inputs;
    const updated = await h().update(id, outs, news);
    expect(await sh(`grep -v '^#' ${FILE}`)).toBe("blacklist iptable_nat\nblacklist nf_nat\n");
    expect(updated.outs.moduleStates).toEqual([
      { name: "iptable_nat", loaded: false, builtIn: false, blocked: true, effective: false },
      { name: "nf_nat", loaded: false, builtIn: false, blocked: true, effective: false },
    ]);
    // Someone replaces the whole file with their own: delete leaves it alone.
    await sh(`printf 'blacklist mine\\n' > ${FILE}`);
    await h().delete(id, updated.outs);
    expect(await fileOnHost()).toBe("blacklist mine\n");
  });
});

describe("ModuleBlacklist input validation", () => {
  it.each([
    ["../x"],
    ["nf conntrack"],
    ["x;touch /root/ctk-pwned"],
    ["$(touch /root/ctk-pwned)"],
    ["`touch /root/ctk-pwned`"],
    ["x|touch /root/ctk-pwned"],
  ])("refuses %j with the property named, and nothing reaches the host", async (bad) => {
    await closeAll();
    const before = await modprobeDir();
    const news = program({ modules: ["nf_nat", bad] });
    const c = await h().check({}, news);
    expect(c.failures).toEqual([{ property: "modules[1]", reason: expect.stringContaining("must be a kernel module name") }]);
    // The engine never calls create after a failed check; even if it did, nothing would run.
    await expect(h().create(news)).rejects.toThrow(/modules\[1\]: must be a kernel module name/);
    expect(poolSize()).toBe(0);
    expect((await hostExec(HOST, ["test", "-e", "/root/ctk-pwned"])).code).toBe(1);
    expect(await modprobeDir()).toBe(before);
  });

  it("refuses a file name that leaves /etc/modprobe.d", async () => {
    const c = await h().check({}, program({ modules: ["nf_nat"], fileName: "../profile.d/x.conf" }));
    expect(c.failures?.map((f) => f.property)).toEqual(["fileName"]);
  });
});

describe("ModuleBlacklist and NotrackRules on the same host", () => {
  const cases: Array<[string, string, string]> = [
    [
      "iptables-nft",
      "iptables-nft -t raw -A PREROUTING -p udp --dport 53 -m comment --comment pulumi-conntrack:lab-dns -j CT --notrack",
      "iptables-nft-save",
    ],
    [
      "ip6tables-legacy",
      "ip6tables-legacy -w -t raw -A OUTPUT -p udp --sport 53 -m comment --comment 'pulumi-conntrack:lab dns' -j NOTRACK",
      "ip6tables-legacy-save",
    ],
    [
      "nft",
      "nft add table inet pulumi_conntrack && nft add chain inet pulumi_conntrack pre '{ type filter hook prerouting priority -300; }' && nft add rule inet pulumi_conntrack pre udp dport 53 notrack comment '\"pulumi-conntrack:lab\"'",
      "nft",
    ],
  ];
  it.each(cases)("refuses to keep out nf_conntrack while a managed %s rule exists, and changes nothing", async (_name, add, source) => {
    await sh(add);
    const before = await modprobeDir();
    const err = await create(program({ modules: ["nf_nat", "nf_conntrack"] })).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain("need nf_conntrack");
    expect(err.message).toContain(`${source}: `);
    expect(err.message).toContain("pulumi-conntrack:lab");
    expect(await modprobeDir()).toBe(before);
  });

  it("ignores rules without the tag, an empty managed nft table, and modules NOTRACK does not need", async () => {
    await sh("iptables-nft -t raw -A PREROUTING -p udp --dport 53 -m comment --comment someone-else -j CT --notrack");
    await sh(
      "nft add table inet pulumi_conntrack && nft add chain inet pulumi_conntrack pre '{ type filter hook prerouting priority -300; }'",
    );
    const { id, outs } = await create(program({ modules: ["nf_conntrack"] }));
    await h().delete(id, outs);
    await sh("nft add rule inet pulumi_conntrack pre udp dport 53 notrack comment '\"pulumi-conntrack:x\"'");
    const other = await create(program({ modules: ["iptable_nat", "nf_nat"] }));
    await h().delete(other.id, other.outs);
  });
});

describe("ModuleBlacklist and ConntrackHelperRules on the same host", () => {
  const cases: Array<[string, "legacy" | undefined, string]> = [
    ["nftables", undefined, "nft"],
    ["iptables", "legacy", "iptables-legacy-save"],
  ];
  it.each(cases)(
    "refuses to keep out nf_conntrack_ftp while an FTP helper rule (%s) uses it, changing nothing; allowed once the rule is deleted",
    async (backend, variant, source) => {
      if (variant) await setBackend(HOST, variant);
      const helper = handler("ConntrackHelperRule");
      const c = await helper.check(
        {},
        { connection: labConnection(HOST), backend, ruleName: "ftp-in", helper: "ftp", protocol: "tcp", destinationPort: 21 },
      );
      expect(c.failures).toBeUndefined();
      const rule = await helper.create(c.inputs);

      const before = await modprobeDir();
      const err = await create(program({ modules: ["nf_conntrack_ftp", "nf_nat"] })).catch((e) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err.message).toContain("need nf_conntrack_ftp");
      expect(err.message).toContain(`${source}: `);
      expect(err.message).toContain(rule.id);
      expect(err.hint).toContain("delete the ConntrackHelperRule");
      expect(await modprobeDir()).toBe(before);
      expect(await fileOnHost()).toBeNull();

      // A helper module no rule uses is still allowed beside the FTP rule.
      const tftp = await create(program({ modules: ["nf_conntrack_tftp"] }));
      await h().delete(tftp.id, tftp.outs);

      await helper.delete(rule.id, { ...c.inputs, ...rule.outs });
      const { id, outs } = await create(program({ modules: ["nf_conntrack_ftp"] }));
      expect(outs).toMatchObject({ modules: ["nf_conntrack_ftp"] });
      expect(await fileOnHost()).toContain("nf_conntrack_ftp");
      await h().delete(id, outs);
      expect(await fileOnHost()).toBeNull();
    },
  );
});

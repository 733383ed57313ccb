import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { opsByName, RealStack } from "../../scripts/real-engine";
import { hostExec } from "../lab/inventory";
import { passiveOpens, snapshotHosts } from "../engine/lab-hosts";
import { expectExit, hostsConfig, lab, nameOf, PROGRAMS, SKIP, stackOnResetHosts, REAL_TIMEOUT } from "./real";

// Engine features users rely on, on the real Pulumi CLI, with ModuleBlacklist files on ctlab9 and
// ctlab10 (one file per resource: cheap to make and to check). Program: programs/features.
const HOSTS = ["ctlab9", "ctlab10"] as const;
const PROJECT = path.join(PROGRAMS, "features");
const TYPE = "pulumi-nodejs:dynamic/conntrack:ModuleBlacklist";

interface Res {
  name: string;
  host: string;
  modules?: string[];
  hostFrom?: string;
  opts?: { protect?: boolean; ignoreChanges?: string[]; deleteBeforeReplace?: boolean; aliases?: string[] };
  file?: string;
}

const fileOf = (r: Res) => r.file ?? `ctk-real-${r.name}.conf`;
function config(resources: Res[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hosts: hostsConfig(HOSTS),
    keyFile: lab!.privateKeyPath,
    resources: resources.map((r) => ({
      kind: "ModuleBlacklist",
      name: r.name,
      host: r.host,
      ...(r.hostFrom ? { hostFrom: r.hostFrom } : {}),
      ...(r.opts ? { opts: r.opts } : {}),
      args: { modules: r.modules ?? ["nf_nat"], fileName: fileOf(r), initramfs: "never" },
    })),
    ...extra,
  };
}

/** The managed files under /etc/modprobe.d of a host, `name: content`. */
async function files(host: string): Promise<Record<string, string>> {
  const r = await hostExec(host, [
    "bash",
    "-c",
    'cd /etc/modprobe.d && for f in ctk-real-*.conf; do [ -e "$f" ] && printf \'%s\\0%s\\0\' "$f" "$(cat "$f")"; done; true',
  ]);
  const parts = r.stdout.split("\0");
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length; i += 2) out[parts[i]] = parts[i + 1];
  return out;
}
const fileNames = async (host: string) => Object.keys(await files(host)).sort();
const custom = (s: RealStack) => s.resources().filter((r) => r.custom && !r.type.startsWith("pulumi:providers:"));
const urnOf = (s: RealStack, name: string) => `urn:pulumi:${s.stack}::real-engine-features::${TYPE}::${name}`;

function features(stack: string, resources: Res[]) {
  return stackOnResetHosts(HOSTS, () => new RealStack(PROJECT, stack, config(resources)));
}

describe.skipIf(SKIP)("--target (real CLI, lab)", { timeout: REAL_TIMEOUT }, () => {
  const RES: Res[] = [
    { name: "t9", host: "ctlab9" },
    { name: "t10", host: "ctlab10" },
  ];
  const stack = features("target", RES);

  it("up --target of one host's resource creates only that one", async () => {
    const r = await stack().run("up", ["--target", urnOf(stack(), "t9")]);
    expectExit(r);
    // The engine reports the resources left out as `same`.
    expect(opsByName(r)).toEqual({ t9: "create", t10: "same" });
    expect(await fileNames("ctlab9")).toEqual(["ctk-real-t9.conf"]);
    expect(await fileNames("ctlab10")).toEqual([]);
    expect(custom(stack()).map((x) => nameOf(x.urn))).toEqual(["t9"]);
  });

  it("up without target creates the rest; destroy --target removes only its resource", async () => {
    expectExit(await stack().run("up"));
    expect(await fileNames("ctlab10")).toEqual(["ctk-real-t10.conf"]);
    const d = await stack().run("destroy", ["--target", urnOf(stack(), "t10")]);
    expectExit(d);
    expect(opsByName(d)).toEqual({ t10: "delete", t9: "same" });
    expect(await fileNames("ctlab10")).toEqual([]);
    expect(await fileNames("ctlab9")).toEqual(["ctk-real-t9.conf"]);
  });
});

describe.skipIf(SKIP)("protect, ignoreChanges, aliases (real CLI, lab)", { timeout: REAL_TIMEOUT }, () => {
  const stack = features("options", [{ name: "p", host: "ctlab9", opts: { protect: true } }]);

  it("protect: true makes destroy fail and leaves the host and the state as they were", async () => {
    expectExit(await stack().run("up"));
    const before = await files("ctlab9");
    const d = await stack().run("destroy");
    expect(d.exitCode).not.toBe(0);
    expect(d.stdout + d.stderr).toMatch(/protected/);
    expect(await files("ctlab9")).toEqual(before);
    expect(custom(stack()).map((x) => nameOf(x.urn))).toEqual(["p"]);
  });

  it("ignoreChanges: a changed module list is ignored by preview and up", async () => {
    stack().setConfig(
      config([{ name: "p", host: "ctlab9", modules: ["nf_nat", "nf_conntrack"], opts: { protect: true, ignoreChanges: ["modules"] } }]),
    );
    const before = await files("ctlab9");
    expectExit(await stack().run("preview", ["--expect-no-changes"]));
    const r = await stack().run("up");
    expectExit(r);
    expect(opsByName(r)).toEqual({ p: "same" });
    expect(await files("ctlab9")).toEqual(before);
  });

  it("aliases: a rename with the old name as alias touches no host and keeps the resource", async () => {
    stack().setConfig(config([{ name: "renamed", host: "ctlab9", file: "ctk-real-p.conf", opts: { protect: true, aliases: ["p"] } }]));
    const before = await files("ctlab9");
    const opens = await passiveOpens("ctlab9", hostExec);
    const pv = await stack().run("preview", ["--expect-no-changes"]);
    expectExit(pv);
    const r = await stack().run("up");
    expectExit(r);
    expect(opsByName(r)).toEqual({ renamed: "same" });
    expect(await passiveOpens("ctlab9", hostExec)).toBe(opens);
    expect(await files("ctlab9")).toEqual(before);
    expect(custom(stack()).map((x) => nameOf(x.urn))).toEqual(["renamed"]);
  });

  it("without protect, destroy removes it", async () => {
    stack().setConfig(config([{ name: "renamed", host: "ctlab9", file: "ctk-real-p.conf", opts: { protect: false } }]));
    expectExit(await stack().run("up"));
    expectExit(await stack().run("destroy"));
    expect(await fileNames("ctlab9")).toEqual([]);
  });
});

describe.skipIf(SKIP)(
  "a host address that is another resource's output; connection.host changes (real CLI, lab)",
  { timeout: REAL_TIMEOUT },
  () => {
    const RES: Res[] = [
      { name: "base", host: "ctlab9" },
      { name: "dep", host: "ctlab10", hostFrom: "base" },
    ];
    const stack = features("outputs", RES);

    it("preview with the address unknown says create, and up makes both", async () => {
      const pv = await stack().run("preview");
      expectExit(pv);
      expect(opsByName(pv)).toEqual({ base: "create", dep: "create" });
      const r = await stack().run("up");
      expectExit(r);
      expect(await fileNames("ctlab9")).toEqual(["ctk-real-base.conf"]);
      expect(await fileNames("ctlab10")).toEqual(["ctk-real-dep.conf"]);
    });

    it("preview while the address is unknown again (its source replaced) says replace, not fail", async () => {
      stack().setConfig(config([{ ...RES[0], file: "ctk-real-base2.conf" }, RES[1]]));
      const pv = await stack().run("preview");
      expectExit(pv);
      const ops = opsByName(pv);
      expect(ops.base).toBe("replace");
      expect(["replace", "update", "same"]).toContain(ops.dep);
      const r = await stack().run("up");
      expectExit(r);
      expect(await fileNames("ctlab9")).toEqual(["ctk-real-base2.conf"]);
      expect(await fileNames("ctlab10")).toEqual(["ctk-real-dep.conf"]);
    });

    it("changing connection.host replaces, deleting the old object before creating the new one", async () => {
      stack().setConfig(
        config([
          { name: "base", host: "ctlab9", file: "ctk-real-base2.conf" },
          { name: "dep", host: "ctlab9" },
        ]),
      );
      const pv = await stack().run("preview");
      expectExit(pv);
      expect(opsByName(pv).dep).toBe("replace");
      const r = await stack().run("up");
      expectExit(r);
      const seq = r.events.filter((e) => e.phase === "pre" && nameOf(e.urn) === "dep").map((e) => e.op);
      expect(seq.indexOf("delete-replaced")).toBeGreaterThanOrEqual(0);
      expect(seq.indexOf("delete-replaced")).toBeLessThan(seq.indexOf("create-replacement"));
      expect(await fileNames("ctlab10")).toEqual([]);
      expect(await fileNames("ctlab9")).toEqual(["ctk-real-base2.conf", "ctk-real-dep.conf"]);
    });
  },
);

describe.skipIf(SKIP)("--parallel 1, default, 64; up --refresh (real CLI, lab)", { timeout: REAL_TIMEOUT }, () => {
  const RES: Res[] = HOSTS.flatMap((h) => [1, 2, 3].map((i) => ({ name: `${h}-m${i}`, host: h })));
  const stack = features("parallel", RES);
  let reference: Record<string, string> | undefined;

  for (const flags of [["--parallel", "1"], [], ["--parallel", "64"]]) {
    it(`up ${flags.join(" ") || "(default parallelism)"} makes the same hosts; destroy empties them`, async () => {
      const r = await stack().run("up", flags);
      expectExit(r);
      expect(Object.keys(opsByName(r)).length).toBe(RES.length);
      const snap = await snapshotHosts(HOSTS, hostExec);
      reference ??= snap;
      expect(snap).toEqual(reference);
      expectExit(await stack().run("destroy", flags));
      for (const h of HOSTS) expect(await fileNames(h)).toEqual([]);
    });
  }

  it("up --refresh sees a file deleted by hand and puts it back", async () => {
    expectExit(await stack().run("up"));
    await hostExec("ctlab10", ["rm", "/etc/modprobe.d/ctk-real-ctlab10-m2.conf"]);
    const r = await stack().run("up", ["--refresh"]);
    expectExit(r);
    expect(
      Object.entries(opsByName(r))
        .filter(([, op]) => op !== "same" && op !== "refresh")
        .map(([n]) => n),
    ).toEqual(["ctlab10-m2"]);
    expect(await snapshotHosts(HOSTS, hostExec)).toEqual(reference);
  });
});

describe.skipIf(SKIP)("a program that throws half-way; Ctrl-C during up (real CLI, lab)", { timeout: REAL_TIMEOUT }, () => {
  const RES: Res[] = HOSTS.flatMap((h) => [1, 2, 3, 4].map((i) => ({ name: `${h}-f${i}`, host: h })));
  const stack = features("faults", RES.slice(0, 3));

  it("a program throwing after 2 resources: up fails, state holds exactly those 2, the hosts only their files", async () => {
    stack().setConfig(config(RES.slice(0, 3), { failAfter: 2 }));
    const r = await stack().run("up");
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("failing on purpose after 2 resources");
    expect(
      custom(stack())
        .map((x) => nameOf(x.urn))
        .sort(),
    ).toEqual(["ctlab9-f1", "ctlab9-f2"]);
    expect(await fileNames("ctlab9")).toEqual(["ctk-real-ctlab9-f1.conf", "ctk-real-ctlab9-f2.conf"]);
    stack().setConfig(config(RES.slice(0, 3)));
    const again = await stack().run("up");
    expectExit(again);
    expect(opsByName(again)).toEqual({ "ctlab9-f1": "same", "ctlab9-f2": "same", "ctlab9-f3": "create" });
  });

  it("SIGINT during up cancels it; a second up converges", async () => {
    expectExit(await stack().run("destroy"));
    stack().setConfig(config(RES));
    let seen = "";
    let sent = false;
    const run = stack().start("up", ["--parallel", "1"], (chunk) => {
      seen += chunk;
      // Ctrl-C as a terminal sends it: to the whole process group, once the first resource exists.
      if (!sent && /created/.test(seen)) {
        sent = true;
        process.kill(-run.child.pid!, "SIGINT");
      }
    });
    const r = await run.done;
    expect(sent).toBe(true);
    expect(r.exitCode).not.toBe(0);
    const made = custom(stack()).map((x) => nameOf(x.urn));
    expect(made.length).toBeLessThan(RES.length);
    const again = await stack().run("up");
    expectExit(again);
    expect(
      custom(stack())
        .map((x) => nameOf(x.urn))
        .sort(),
    ).toEqual(RES.map((x) => x.name).sort());
    for (const h of HOSTS)
      expect(await fileNames(h)).toEqual(
        RES.filter((x) => x.host === h)
          .map((x) => `ctk-real-${x.name}.conf`)
          .sort(),
      );
    expect(JSON.parse(stack().exportText()).deployment.pending_operations ?? []).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { ConflictError, RemoteCommandError } from "../../../provider/errors";
import type { ApplyResult } from "../../../provider/resources/module-blacklist/apply";
import {
  deleteAction,
  deleteFailure,
  judgeConverge,
  restoreAction,
  rollbackReport,
  unloadedInOrder,
  type ConvergeOutcome,
} from "../../../provider/resources/module-blacklist/apply-result";
import type { InitramfsFacts } from "../../../provider/resources/module-blacklist/observation";
import type { DeletePlan, Plan } from "../../../provider/resources/module-blacklist/plan";
import { parseManagedFile, renderManagedFile } from "../../../provider/resources/module-blacklist/managed-file";
import { ModuleBlacklistSchema } from "../../../provider/resources/module-blacklist/schema";
import type { UnloadPlan } from "../../../provider/resources/module-blacklist/unload-order";
import { NAT_LOADED, available, fileObs, observation } from "./fixtures";

const HOST = "root@10.0.0.1:22";
const PATH = "/etc/modprobe.d/pulumi-conntrack-blacklist.conf";
const inputs = ModuleBlacklistSchema.parse({ connection: { host: "10.0.0.1", user: "root" }, modules: ["nf_nat"] });
const unloading = { ...inputs, unload: true };

const IMAGE: InitramfsFacts = {
  tool: "update-initramfs",
  image: "/boot/initrd.img-5.10.0-32-amd64",
  imageExists: true,
  imageMtime: 1000,
  listed: true,
  contains: ["nf_nat"],
  hasFile: false,
};

function plan(over: Partial<Plan> = {}): Plan {
  return {
    path: PATH,
    write: "# managed\ninstall nf_nat /bin/false\n",
    regenerate: null,
    unload: null,
    guardNotrack: false,
    guardHelpers: [],
    record: { replaced: null, initramfsRegenerated: false },
    notes: ["a note"],
    ...over,
  };
}

function unloadPlan(order: string[], sequence: string[]): UnloadPlan {
  return { order, holdersRemoved: [], dependencies: [], sequence, blocked: [], removeFirst: [] };
}

function result(over: Partial<ApplyResult> = {}): ApplyResult {
  return { conflict: null, fileError: null, initramfs: null, unload: [], loadedBefore: [], after: observation(), ...over };
}

function outcome(over: Partial<ConvergeOutcome> = {}): ConvergeOutcome {
  return { host: HOST, path: PATH, inputs, observed: observation(), plan: plan(), result: result(), ...over };
}

/** The message as built, without the host prefix and the command/next lines `ConntrackError` adds. */
function said(e: Error): string {
  return e.message.slice(`${HOST}: `.length).split("\n  command: ")[0];
}

function failed(o: ConvergeOutcome) {
  const v = judgeConverge(o);
  if (v.ok) throw new Error("expected a failure");
  return v;
}

describe("judgeConverge", () => {
  it("nothing applied: the outputs come from the observation the plan used", () => {
    const obs = observation({ moduleFacts: available("nf_nat"), initramfs: IMAGE });
    const v = judgeConverge(outcome({ observed: obs, plan: plan({ write: null }), result: undefined }));
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.outputs.path).toBe(PATH);
    expect(v.outputs.unloaded).toEqual([]);
    expect(v.outputs.notes[0]).toBe("a note");
    expect(v.outputs.kernelRelease).toBe("5.10.0-32-amd64");
  });

  it("applied: reports the modules that left, in the planned sequence first, then the rest sorted", () => {
    const after = observation({
      loadedList: NAT_LOADED.filter((m) => !["iptable_nat", "nf_nat", "libcrc32c", "ip_tables"].includes(m.name)),
    });
    const v = judgeConverge(
      outcome({
        inputs: unloading,
        plan: plan({ unload: unloadPlan(["iptable_nat", "nf_nat"], ["iptable_nat", "nf_nat"]) }),
        result: result({ loadedBefore: ["nf_nat", "libcrc32c", "iptable_nat", "ip_tables", "ext4"], after }),
      }),
    );
    expect(v.ok && v.outputs.unloaded).toEqual(["iptable_nat", "nf_nat", "ip_tables", "libcrc32c"]);
  });

  it("carries the initramfs listed before over the closing observation, unless it was regenerated", () => {
    // initramfs "never": a listed module inside the image is not kept out at early boot.
    const never = { ...inputs, initramfs: "never" as const };
    const written = renderManagedFile(["nf_nat"], "disable", null);
    const after = observation({ moduleFacts: available("nf_nat"), file: fileObs(written), config: parseManagedFile(written) });
    const observed = observation({ moduleFacts: available("nf_nat"), initramfs: IMAGE });
    const effective = (p: Plan) => {
      const v = judgeConverge(outcome({ inputs: never, observed, plan: p, result: result({ after }) }));
      return v.ok ? v.outputs.effective : undefined;
    };
    expect(effective(plan())).toBe(false);
    expect(effective(plan({ regenerate: { tool: "update-initramfs", why: "x" } }))).toBe(true);
  });

  it("a NotrackRule found under the lock: a ConflictError, nothing to put back", () => {
    const v = failed(
      outcome({
        inputs: ModuleBlacklistSchema.parse({ connection: { host: "10.0.0.1" }, modules: ["nf_conntrack"] }),
        result: result({ conflict: [{ source: "iptables-nft-save", rule: "-A PREROUTING -j CT --notrack" }] }),
      }),
    );
    expect(v.undo).toBeNull();
    const e = v.error(null);
    expect(e).toBeInstanceOf(ConflictError);
    expect(said(e)).toBe(
      "a NotrackRule of pulumi-conntrack appeared on this host while planning, and it needs nf_conntrack; nothing was changed",
    );
    expect(e.host).toBe(HOST);
    expect(e.command).toBe(`write ${PATH}`);
  });

  it("a ConntrackHelperRule found under the lock: a ConflictError naming the module and the rule", () => {
    const rule = '-A PREROUTING -p tcp -m comment --comment "pulumi-conntrack:helper:ftp" -j CT --helper ftp';
    const v = failed(
      outcome({
        inputs: ModuleBlacklistSchema.parse({ connection: { host: "10.0.0.1" }, modules: ["nf_conntrack_ftp"] }),
        result: result({ conflict: [{ source: "iptables-legacy-save", rule }] }),
      }),
    );
    expect(v.undo).toBeNull();
    const e = v.error(null);
    expect(e).toBeInstanceOf(ConflictError);
    expect(e.message).toContain(
      "a ConntrackHelperRule of pulumi-conntrack appeared on this host while planning, and it needs nf_conntrack_ftp",
    );
    expect(e.message).toContain(rule);
  });

  it("an empty conflict list is no conflict", () => {
    expect(judgeConverge(outcome({ result: result({ conflict: [] }) })).ok).toBe(true);
  });

  it("a failed file step: nothing else was done, nothing to put back", () => {
    const v = failed(outcome({ result: result({ fileError: "mktemp: Read-only file system" }) }));
    expect(v.undo).toBeNull();
    const e = v.error(null);
    expect(said(e)).toBe(`could not write ${PATH}: mktemp: Read-only file system; nothing else was done`);
    expect(e.hint).toBe("check that /etc/modprobe.d is writable (root, or sudo: true)");
  });

  it("a failed regeneration after a write: the file is put back (without regenerating again)", () => {
    const v = failed(
      outcome({
        plan: plan({ regenerate: { tool: "update-initramfs", why: "x" } }),
        result: result({ initramfs: { exitCode: 1, output: "line 1\nE: failure" } }),
      }),
    );
    expect(v.undo).toEqual({ regenerated: null });
    const e = v.error(`${PATH} is put back as it was`) as RemoteCommandError;
    expect(e).toBeInstanceOf(RemoteCommandError);
    expect(said(e)).toBe(
      `regenerating the initramfs failed (exit 1); nothing was unloaded; ${PATH} is put back as it was:\n    line 1\n    E: failure`,
    );
    expect(e.command).toBe("update-initramfs -u -k $(uname -r)");
    expect(e.exitCode).toBe(1);
  });

  it("a failed regeneration without a write (dracut): nothing to put back, the file was not changed", () => {
    const v = failed(
      outcome({
        plan: plan({ write: null, regenerate: { tool: "dracut", why: "x" } }),
        result: result({ initramfs: { exitCode: 2, output: "dracut: no space" } }),
      }),
    );
    expect(v.undo).toBeNull();
    const e = v.error(null);
    expect(said(e)).toBe(
      `regenerating the initramfs failed (exit 2); nothing was unloaded; ${PATH} was not changed:\n    dracut: no space`,
    );
    expect(e.command).toBe("dracut -f --kver $(uname -r)");
  });

  it("a successful regeneration is no failure", () => {
    const v = judgeConverge(
      outcome({ plan: plan({ regenerate: { tool: "dracut", why: "x" } }), result: result({ initramfs: { exitCode: 0, output: "" } }) }),
    );
    expect(v.ok).toBe(true);
  });

  it("unload refused: names the holders and the failed modprobe, puts the file back and regenerates again", () => {
    const after = observation({ loadedList: NAT_LOADED, moduleFacts: [{ name: "nf_nat" }] });
    const v = failed(
      outcome({
        inputs: unloading,
        plan: plan({ regenerate: { tool: "update-initramfs", why: "x" }, unload: unloadPlan(["nf_nat"], ["nf_nat"]) }),
        result: result({
          loadedBefore: ["nf_nat", "xt_CT"],
          unload: [
            { module: "xt_CT", outcome: "removed", message: "" },
            { module: "nf_nat", outcome: "failed", message: "modprobe: FATAL: Module nf_nat is in use." },
          ],
          after,
        }),
      }),
    );
    expect(v.undo).toEqual({ regenerated: { tool: "update-initramfs", why: "x" } });
    const e = v.error("it was put back") as RemoteCommandError;
    expect(said(e)).toBe(
      "unload incomplete: still loaded: nf_nat (holders: iptable_nat; refcnt 1); unloaded before the failure (they stay unloaded): xt_CT\n    modprobe -r nf_nat: modprobe: FATAL: Module nf_nat is in use.\n  it was put back.",
    );
    expect(e.command).toBe("modprobe -r nf_nat");
    expect(e.exitCode).toBe(1);
    expect(e.stderr).toBe("modprobe: FATAL: Module nf_nat is in use.");
  });

  it("still loaded without a failed modprobe and without a write: nothing unloaded, the file not changed", () => {
    const observed = observation({
      loadedList: [{ name: "nf_nat", state: "live", refcnt: 0, holders: [] }],
      moduleFacts: [{ name: "nf_nat" }],
    });
    const v = failed(outcome({ inputs: unloading, observed, plan: plan({ write: null }), result: undefined }));
    expect(v.undo).toBeNull();
    const e = v.error(null) as RemoteCommandError;
    expect(said(e)).toBe(
      `unload incomplete: still loaded: nf_nat (holders: none; refcnt 0); nothing was unloaded\n  ${PATH} was not changed.`,
    );
    expect(e.command).toBe("modprobe -r nf_nat");
    expect(e.exitCode).toBeNull();
  });

  it("a listed module that stays loaded is no failure when unload is false", () => {
    const observed = observation({ loadedList: NAT_LOADED, moduleFacts: [{ name: "nf_nat" }] });
    expect(judgeConverge(outcome({ observed, plan: plan({ write: null }), result: undefined })).ok).toBe(true);
  });
});

describe("unloadedInOrder", () => {
  it("keeps the planned sequence, then the others sorted; ignores planned modules that did not leave", () => {
    expect(unloadedInOrder(["a", "b", "c"], ["z", "c", "a", "m"])).toEqual(["a", "c", "m", "z"]);
    expect(unloadedInOrder([], [])).toEqual([]);
  });
});

describe("restoreAction", () => {
  it("writes back a file byte for byte with its mode, removes what was absent, keeps what it cannot restore", () => {
    expect(restoreAction(observation({ file: fileObs("blacklist x\n", "600") }))).toEqual({
      kind: "write",
      bytes: Buffer.from("blacklist x\n"),
      mode: "600",
    });
    expect(restoreAction(observation({ file: { kind: "absent" } }))).toEqual({ kind: "remove" });
    expect(restoreAction(observation({ file: { kind: "unreadable" } }))).toEqual({ kind: "keep" });
  });
});

describe("rollbackReport", () => {
  const absent = observation({ file: { kind: "absent" } });
  const present = observation({ file: fileObs("x\n") });
  it("says the rollback itself failed", () => {
    expect(rollbackReport(PATH, absent, null, new Error("connection lost"))).toBe(
      `putting ${PATH} back failed (connection lost): it holds the new content; remove or restore it by hand`,
    );
    expect(rollbackReport(PATH, absent, null, result({ fileError: "EROFS" }))).toBe(
      `putting ${PATH} back failed too (EROFS): it holds the new content; remove or restore it by hand`,
    );
  });
  it("says a regeneration during the rollback failed, with the command for the tool", () => {
    const r = result({ initramfs: { exitCode: 1, output: "" } });
    expect(rollbackReport(PATH, present, { tool: "dracut", why: "x" }, r)).toBe(
      `${PATH} is put back as it was, but regenerating the initramfs again failed (exit 1): run dracut -f by hand`,
    );
    expect(rollbackReport(PATH, present, null, r)).toContain("run update-initramfs -u by hand");
  });
  it("says what was put back", () => {
    expect(rollbackReport(PATH, absent, null, result())).toBe(`${PATH} is put back as it was (removed)`);
    expect(rollbackReport(PATH, present, { tool: "update-initramfs", why: "x" }, result({ initramfs: { exitCode: 0, output: "" } }))).toBe(
      `${PATH} is put back as it was and the initramfs regenerated again`,
    );
  });
});

describe("deleteAction and deleteFailure", () => {
  const replaced = { base64: Buffer.from("old\n").toString("base64"), mode: "640" };
  const d = (file: DeletePlan["file"], regenerate: DeletePlan["regenerate"] = null): DeletePlan => ({ file, regenerate });

  it("does nothing for a kept file without regeneration; otherwise the file action", () => {
    expect(deleteAction(d({ kind: "keep", why: "gone" }))).toBeNull();
    expect(deleteAction(d({ kind: "keep", why: "gone" }, { tool: "dracut", why: "x" }))).toEqual({ kind: "keep" });
    expect(deleteAction(d({ kind: "remove" }))).toEqual({ kind: "remove" });
    expect(deleteAction(d({ kind: "restore", replaced } as DeletePlan["file"]))).toEqual({
      kind: "write",
      bytes: Buffer.from("old\n"),
      mode: "640",
    });
  });

  it("no error when the apply succeeded", () => {
    expect(deleteFailure(HOST, PATH, d({ kind: "remove" }), result())).toBeNull();
    expect(deleteFailure(HOST, PATH, d({ kind: "remove" }), result({ initramfs: { exitCode: 0, output: "" } }))).toBeNull();
  });

  it("a failed file step names the action", () => {
    const e = deleteFailure(HOST, PATH, d({ kind: "remove" }), result({ fileError: "EROFS" }))!;
    expect(said(e)).toBe(`could not remove ${PATH}: EROFS`);
    expect(e.command).toBe(`remove ${PATH}`);
  });

  it("a failed regeneration says the image still holds the old copy", () => {
    const r = result({ initramfs: { exitCode: 1, output: "a\nb" } });
    const removed = deleteFailure(HOST, PATH, d({ kind: "remove" }, { tool: "update-initramfs", why: "x" }), r) as RemoteCommandError;
    expect(said(removed)).toBe(
      `${PATH} is removed, but regenerating the initramfs failed (exit 1): it still holds the old copy:\n    a\n    b`,
    );
    expect(removed.command).toBe("update-initramfs -u");
    const restored = deleteFailure(HOST, PATH, d({ kind: "restore", replaced } as DeletePlan["file"], { tool: "dracut", why: "x" }), r)!;
    expect(said(restored)).toContain(`${PATH} is restored, but`);
    expect(restored.command).toBe("dracut -f");
  });
});

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { FACTS_SCRIPT, kernelAtLeast, parseFacts } from "../../../provider/transport/facts";
import { OBSERVE_SCRIPT as MODULE_BLACKLIST_OBSERVE } from "../../../provider/resources/module-blacklist/observe";
import { OBSERVE_SCRIPT_BODY as TABLE_SIZE_OBSERVE } from "../../../provider/resources/table-size/observe";

describe("host facts", () => {
  it("define $ctk_nl before the scripts that match whole lines with it use it", () => {
    // Without it, "$ctk_nl$m$ctk_nl" is "$m": a module would match any list line that holds its name.
    for (const s of [MODULE_BLACKLIST_OBSERVE, TABLE_SIZE_OBSERVE]) {
      const facts = s.indexOf(FACTS_SCRIPT);
      expect(facts).toBeGreaterThanOrEqual(0);
      expect(s.indexOf("$ctk_nl", facts + FACTS_SCRIPT.length)).toBeGreaterThan(facts);
      expect(s.slice(0, facts)).not.toContain("$ctk_nl");
    }
  });

  it("parses a Debian 5.10 host with the toggle", () => {
    const f = parseFacts(
      [
        "kernel=5.10.0-32-amd64",
        "uid=0",
        "bin.iptables=/usr/sbin/iptables",
        "bin.nft=/usr/sbin/nft",
        "bin.modprobe=/usr/sbin/modprobe",
        "nf_conntrack=loaded",
        "helper_sysctl=0",
        "os.ID=debian",
        "os.VERSION_ID=11",
      ].join("\n"),
    );
    expect(f.kernel).toEqual({ major: 5, minor: 10, patch: 0 });
    expect(f.nfConntrack).toBe("loaded");
    expect(f.helperSysctl).toBe("0");
    expect(f.binaries.nft).toBe("/usr/sbin/nft");
    expect(f.binaries.dracut).toBeUndefined();
    expect(f.os).toEqual({ id: "debian", versionId: "11", like: [] });
    expect(kernelAtLeast(f, 4, 7)).toBe(true);
    expect(kernelAtLeast(f, 6, 0)).toBe(false);
  });

  it("reads an unknown module state as absent", () => {
    expect(parseFacts("nf_conntrack=weird").nfConntrack).toBe("absent");
  });

  it("runs as a real script on this machine and yields consistent facts", () => {
    const f = parseFacts(execFileSync("sh", ["-c", FACTS_SCRIPT]).toString());
    expect(f.kernelRelease).toBe(execFileSync("uname", ["-r"]).toString().trim());
    expect(f.kernel.major).toBeGreaterThan(2);
    expect(["loaded", "builtin", "module", "absent"]).toContain(f.nfConntrack);
    expect(f.os.id).not.toBe("");
    // Read by the shell's builtins from /proc and /etc/os-release: the same as the tools say.
    expect(f.uid).toBe(Number(execFileSync("id", ["-u"]).toString().trim()));
    const os = execFileSync("sh", ["-c", '. /etc/os-release && printf \'%s\\n%s\\n\' "$ID" "${VERSION_ID:-}"']).toString().split("\n");
    expect([f.os.id, f.os.versionId]).toEqual([os[0], os[1]]);
  });

  it("never asks iptables for its version, which only NotrackRule reads", () => {
    // Every kind's observe embeds the facts: a program here is a process on every host in every read.
    expect(FACTS_SCRIPT).not.toMatch(/iptables -V|\$\(iptables/);
  });
});

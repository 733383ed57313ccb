import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OBSERVE_SCRIPT, managedPath, parseObservation } from "../../../provider/resources/helper-setting/observe";
import { APPLY_SCRIPT, applyArgs, verify } from "../../../provider/resources/helper-setting/apply";
import {
  foreignSettings,
  helperOptionLines,
  isManagedContent,
  managedFileContent,
  parseBoolParam,
} from "../../../provider/resources/helper-setting/managed-file";
import { contentSha256 } from "../../../provider/transport/files";
import { host, HOSTS, file } from "./fixtures";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const dir = mkdtempSync(join(tmpdir(), "ctk-helper-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function observeLocally(path: string) {
  return parseObservation(execFileSync("sh", ["-c", OBSERVE_SCRIPT, "sh", path]).toString());
}

describe("observe script output parsing", () => {
  it("parses a bullseye host with nf_conntrack loaded, a managed file and settings elsewhere", () => {
    const content = managedFileContent(0);
    const out = [
      "@@ctk facts",
      "kernel=5.10.0-32-amd64",
      "uid=0",
      "nf_conntrack=loaded",
      "helper_sysctl=0",
      "@@ctk toggle",
      "sysctl_present=1",
      "module_param=N",
      "modinfo_toggle=1",
      "@@ctk file",
      "kind=file",
      `hex=${Buffer.from(content).toString("hex")}`,
      "@@ctk outside",
      "cmdline\t/proc/cmdline\t0:nf_conntrack.nf_conntrack_helper=1",
      "modprobe\t/etc/modprobe.d/zz.conf\t3:options nf-conntrack hashsize=1024 nf_conntrack_helper=Y",
      "sysctl\t/etc/sysctl.d/99 ct.conf\t7:net/netfilter/nf_conntrack_helper = 0",
      "garbage line",
      "",
    ].join("\n");
    const o = parseObservation(out);
    expect(o.facts.kernelRelease).toBe("5.10.0-32-amd64");
    expect(o).toMatchObject({
      sysctlPresent: true,
      live: 0,
      moduleParameter: "N",
      modinfoHasToggle: true,
      file: { kind: "file", content },
    });
    expect(o.outside).toEqual([
      { source: "cmdline", path: "/proc/cmdline", line: 0, text: "nf_conntrack.nf_conntrack_helper=1", value: 1 },
      {
        source: "modprobe",
        path: "/etc/modprobe.d/zz.conf",
        line: 3,
        text: "options nf-conntrack hashsize=1024 nf_conntrack_helper=Y",
        value: 1,
      },
      { source: "sysctl", path: "/etc/sysctl.d/99 ct.conf", line: 7, text: "net/netfilter/nf_conntrack_helper = 0", value: 0 },
    ]);
  });

  it("parses a 6.x host: no sysctl, no parameter, no file", () => {
    const o = parseObservation("@@ctk facts\nkernel=6.18.44\nnf_conntrack=builtin\n@@ctk toggle\n@@ctk file\nkind=absent\n@@ctk outside\n");
    expect(o).toMatchObject({
      sysctlPresent: false,
      live: null,
      moduleParameter: null,
      modinfoHasToggle: null,
      file: { kind: "absent" },
      outside: [],
    });
  });

  it("maps every kind of path", () => {
    const kindOf = (k: string) => parseObservation(`@@ctk file\nkind=${k}\n`).file;
    expect(kindOf("symlink")).toEqual({ kind: "other", what: "symlink" });
    expect(kindOf("other")).toEqual({ kind: "other", what: "not a regular file" });
    expect(kindOf("unreadable")).toEqual({ kind: "unreadable" });
    expect(parseObservation("").file).toEqual({ kind: "unreadable" });
  });

  it("runs on this machine and reads the file byte for byte, whatever it holds", () => {
    const path = join(dir, "t.conf");
    const tricky = "# é ü\n@@ctk facts\nkernel=1.0\noptions nf_conntrack nf_conntrack_helper=1\n\nno final newline";
    writeFileSync(path, tricky, { mode: 0o640 });
    const o = observeLocally(path);
    expect(o.file).toEqual({ kind: "file", content: tricky, mode: "640" });
    expect(o.facts.kernelRelease).toBe(execFileSync("uname", ["-r"]).toString().trim());
    writeFileSync(path, "");
    expect(observeLocally(path).file).toEqual({ kind: "file", content: "", mode: "640" });
    expect(observeLocally(join(dir, "absent.conf")).file).toEqual({ kind: "absent" });
    symlinkSync(path, join(dir, "link.conf"));
    expect(observeLocally(join(dir, "link.conf")).file).toEqual({ kind: "other", what: "symlink" });
    expect(observeLocally(dir).file).toEqual({ kind: "other", what: "not a regular file" });
  });

  it("asks modinfo only when nf_conntrack is not in the kernel (where its answer is read)", () => {
    // A fake modinfo on PATH that logs being asked; this machine's /sys decides, as a host's does.
    const bin = mkdtempSync(join(tmpdir(), "ctk-modinfo-"));
    try {
      writeFileSync(
        join(bin, "modinfo"),
        `#!/bin/sh\necho "$*" >> "${bin}/log"\n[ "$2" = parm ] && echo "nf_conntrack_helper:Enable automatic conntrack helper assignment (default 0) (bool)"\n`,
      );
      chmodSync(join(bin, "modinfo"), 0o755);
      const out = execFileSync("sh", ["-c", OBSERVE_SCRIPT, "sh", join(dir, "absent.conf")], {
        env: { PATH: `${bin}:/usr/bin:/bin:/usr/sbin:/sbin` },
      }).toString();
      const o = parseObservation(out);
      const asked = existsSync(join(bin, "log")) ? readFileSync(join(bin, "log"), "utf8") : "";
      if (existsSync("/sys/module/nf_conntrack")) {
        expect(["loaded", "builtin"]).toContain(o.facts.nfConntrack);
        expect(asked).toBe("");
        expect(o.modinfoHasToggle).toBeNull();
      } else {
        expect(asked).toContain("-F parm nf_conntrack");
        expect(o.modinfoHasToggle).toBe(true);
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("names the managed path under /etc/modprobe.d", () => {
    expect(managedPath("x.conf")).toBe("/etc/modprobe.d/x.conf");
  });
});

describe("apply script arguments and verification", () => {
  it("passes values as positional parameters and content on stdin", () => {
    expect(applyArgs("/etc/modprobe.d/a.conf", [])).toEqual({
      args: ["/etc/modprobe.d/a.conf", "keep", "", "", "0644", EMPTY_SHA256, "", "keep"],
      stdin: "",
    });
    expect(
      applyArgs("/etc/modprobe.d/a.conf", [
        { kind: "set-live", from: 1, to: 0 },
        { kind: "set-module-parameter", from: "Y", to: "N" },
        { kind: "write-file", path: "/etc/modprobe.d/a.conf", content: "C", why: "w" },
      ]),
    ).toEqual({ args: ["/etc/modprobe.d/a.conf", "write", "0", "N", "0644", contentSha256("C"), "", "keep"], stdin: "C" });
    expect(applyArgs("/p", [{ kind: "remove-file", path: "/p", why: "w" }]).args).toEqual([
      "/p",
      "remove",
      "",
      "",
      "0644",
      EMPTY_SHA256,
      "",
      "keep",
    ]);
    expect(applyArgs("/p", [], { path: "/r", action: "drop" }).args.slice(6)).toEqual(["/r", "drop"]);
    expect(() => applyArgs("/p", [], { path: "", action: "make" })).toThrow(/path/);
    expect(applyArgs("/p", [{ kind: "write-file", path: "/p", content: "", why: "w", mode: "600" }]).args[4]).toBe("600");
    expect(() => applyArgs("/p", [{ kind: "write-file", path: "/p", content: "", why: "w", mode: "6;rm" }])).toThrow(/octal/);
    // The script text is fixed: no value is ever part of it.
    expect(APPLY_SCRIPT).not.toMatch(/a\.conf/);
  });

  it("reports what the host does not show after the changes", () => {
    const o = host({ ...HOSTS.k510loaded1, file: file("x") });
    expect(
      verify(o, [
        { kind: "set-live", from: 1, to: 0 },
        { kind: "set-module-parameter", from: "Y", to: "N" },
        { kind: "write-file", path: "/p", content: "y", why: "" },
        { kind: "remove-file", path: "/p", why: "" },
      ]),
    ).toHaveLength(4);
    expect(
      verify(o, [
        { kind: "set-live", from: 0, to: 1 },
        { kind: "write-file", path: "/p", content: "x", why: "" },
      ]),
    ).toEqual([]);
  });
});

describe("modprobe option lines", () => {
  it("finds the toggle however the names are spelt, and only for nf_conntrack", () => {
    const text = [
      "options nf_conntrack nf_conntrack_helper=0",
      "  options   nf-conntrack  hashsize=1 nf-conntrack-helper=1  ",
      "options nf_conntrack_ipv4 nf_conntrack_helper=1",
      "#options nf_conntrack nf_conntrack_helper=1",
      "options nf_conntrack nf_conntrack_helperx=1",
      "options nf_conntrack xnf_conntrack_helper=1",
      "options nf_conntrack nf_conntrack_helper=maybe",
    ].join("\n");
    expect(helperOptionLines(text).map((l) => [l.line, l.value])).toEqual([
      [1, 0],
      [2, 1],
      [7, null],
    ]);
  });

  it("parses booleans as the kernel does", () => {
    expect(["1", "y", "Y", "yes", "on", "ON"].map(parseBoolParam)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(["0", "n", "N", "no", "off"].map(parseBoolParam)).toEqual([0, 0, 0, 0, 0]);
    expect(["", "2", "true", "o"].map(parseBoolParam)).toEqual([null, null, null, null]);
  });

  it("tells a file it can take over from one with other settings", () => {
    expect(foreignSettings("# c\n\noptions nf_conntrack nf_conntrack_helper=0\n")).toEqual([]);
    expect(foreignSettings("options nf_conntrack nf_conntrack_helper=0 hashsize=4\nblacklist nf_nat\n")).toEqual([
      { line: 1, text: "options nf_conntrack nf_conntrack_helper=0 hashsize=4" },
      { line: 2, text: "blacklist nf_nat" },
    ]);
    expect(isManagedContent(managedFileContent(1))).toBe(true);
    expect(isManagedContent("options nf_conntrack nf_conntrack_helper=1\n")).toBe(false);
  });
});

/**
 * The one reader of modprobe.d (and sysctl.d) with modprobe's precedence rules
 * (provider/transport/conf-dirs.ts), run by this machine's /bin/sh over temporary directories that
 * stand for /etc, /run, /usr/local/lib, /usr/lib and /lib (the directories are parameters of the
 * fragment), then read by the one parser; and every observe script that looks at modprobe.d using it.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OBSERVE_SCRIPT as HELPER_OBSERVE } from "../../../provider/resources/helper-setting/observe";
import { OBSERVE_SCRIPT as NOTRACK_OBSERVE } from "../../../provider/resources/notrack-rule/observe";
import { OBSERVE_SCRIPT_BODY as TABLE_OBSERVE } from "../../../provider/resources/table-size/observe";
import { CORE_INSTALL_ERE, parseCoreBlocks } from "../../../provider/transport/conntrack-core";
import {
  CONF_DIR_FUNCTIONS,
  confRowsDigest,
  confRowsMatching,
  ereRegExp,
  MODPROBE_D_DIRS,
  modprobeGrep,
  parseConfMatch,
  parseConfMatches,
} from "../../../provider/transport/conf-dirs";
import { MODPROBE_BLOCK_ERE } from "../../../provider/resources/notrack-rule/observe";
import { HELPER_BLOCK_ERE } from "../../../provider/resources/notrack-rule/host/helper-modules";

let root = "";
let dirs: string[] = [];
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "ctk-confdirs-"));
  // The five directories, in modprobe's order of precedence.
  dirs = ["etc", "run", "usr-local-lib", "usr-lib", "lib"].map((d) => path.join(root, d));
  for (const d of dirs) mkdirSync(d);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const [ETC, RUN, , USR_LIB, LIB] = [0, 1, 2, 3, 4];
const put = (dir: number, name: string, content: string) => writeFileSync(path.join(dirs[dir], name), content);
const at = (dir: number, name: string) => path.join(dirs[dir], name);

function sh(body: string, args: string[]): string {
  return execFileSync("/bin/sh", ["-c", `${CONF_DIR_FUNCTIONS}\n${body}`, "sh", ...args], { encoding: "utf8" });
}
const files = () => sh('ctk_conf_list "$@"; printf \'%s\' "$_cl"', dirs).split("\n").filter(Boolean);
const grep = (ere: string, exclude = "") => sh('re=$1; x=$2; shift 2; ctk_conf_grep "$re" "$x" "$@"', [ere, exclude, ...dirs]);

describe("the modprobe.d reader", () => {
  it("lets a file in an earlier directory hide the same name in every later one", () => {
    put(LIB, "a.conf", "install nf_conntrack /bin/false\n");
    put(USR_LIB, "a.conf", "install nf_conntrack /bin/true\n");
    put(ETC, "a.conf", "# local override: nothing\n");
    put(LIB, "b.conf", "blacklist x\n");
    expect(files()).toEqual([at(ETC, "a.conf"), at(LIB, "b.conf")]);
    expect(grep("install")).toBe("");
  });

  it("reads the files in lexical order of name, whatever their directory (the last option wins)", () => {
    put(ETC, "50-b.conf", "options m p=etc\n");
    put(LIB, "10-a.conf", "options m p=lib\n");
    put(RUN, "90-c.conf", "x\noptions m p=run\n");
    put(USR_LIB, "50-B.conf", "options m p=usrlib\n");
    expect(files()).toEqual([at(LIB, "10-a.conf"), at(USR_LIB, "50-B.conf"), at(ETC, "50-b.conf"), at(RUN, "90-c.conf")]);
    expect(parseConfMatches(grep("^options m "))).toEqual([
      { path: at(LIB, "10-a.conf"), line: 1, text: "options m p=lib" },
      { path: at(USR_LIB, "50-B.conf"), line: 1, text: "options m p=usrlib" },
      { path: at(ETC, "50-b.conf"), line: 1, text: "options m p=etc" },
      { path: at(RUN, "90-c.conf"), line: 2, text: "options m p=run" },
    ]);
  });

  it("reads only *.conf; a link to /dev/null hides the name, a directory or a dangling link does not", () => {
    put(ETC, "a.conf.bak", "install nf_conntrack /bin/false\n");
    put(LIB, "masked.conf", "install nf_conntrack /bin/false\n");
    symlinkSync("/dev/null", at(ETC, "masked.conf"));
    put(LIB, "dir.conf", "install nf_conntrack /bin/false\n");
    mkdirSync(at(ETC, "dir.conf"));
    put(LIB, "dangling.conf", "install nf_conntrack /bin/false\n");
    symlinkSync(path.join(root, "nowhere"), at(ETC, "dangling.conf"));
    expect(files()).toEqual([at(LIB, "dangling.conf"), at(LIB, "dir.conf"), at(ETC, "masked.conf")]);
    expect(parseConfMatches(grep("install")).map((m) => m.path)).toEqual([at(LIB, "dangling.conf"), at(LIB, "dir.conf")]);
  });

  it("leaves out the excluded file's lines, but the excluded file still hides its name", () => {
    put(ETC, "ours.conf", "options nf_conntrack hashsize=1\n");
    put(LIB, "ours.conf", "options nf_conntrack hashsize=2\n");
    put(LIB, "theirs.conf", "options nf_conntrack hashsize=3\n");
    expect(parseConfMatches(grep("hashsize", at(ETC, "ours.conf"))).map((m) => m.text)).toEqual(["options nf_conntrack hashsize=3"]);
    // Without our file in /etc, the packaged one of the same name is read, and reported.
    rmSync(at(ETC, "ours.conf"));
    expect(parseConfMatches(grep("hashsize", at(ETC, "ours.conf"))).map((m) => m.text)).toEqual([
      "options nf_conntrack hashsize=2",
      "options nf_conntrack hashsize=3",
    ]);
  });

  it("reads file names with spaces, and an empty set of directories", () => {
    put(ETC, "99 local.conf", "options a b=1\n");
    expect(parseConfMatches(grep("options"))).toEqual([{ path: at(ETC, "99 local.conf"), line: 1, text: "options a b=1" }]);
    for (const d of dirs) rmSync(d, { recursive: true });
    expect(grep("options")).toBe("");
  });

  it("greps all files in one pass, or file by file where a path holds a colon: the same rows either way", () => {
    // Lines with colons and tabs in them, a last line without its newline, a backslash, and
    // more files than a pipe's worth of names would need.
    put(ETC, "10-a.conf", "install nf_conntrack /bin/false # a: b\toptions\n");
    put(LIB, "20-b.conf", "x\ninstall nf_conntrack_ipv4 /bin/sh -c 'echo \\\\n'");
    for (let i = 0; i < 40; i++)
      put(USR_LIB, `3${String(i).padStart(2, "0")}-n.conf`, i % 7 === 0 ? `install x${i} /bin/false\n` : "# nothing\n");
    const rows = grep("^install");
    const expected = [
      { path: at(ETC, "10-a.conf"), line: 1, text: "install nf_conntrack /bin/false # a: b\toptions" },
      { path: at(LIB, "20-b.conf"), line: 2, text: "install nf_conntrack_ipv4 /bin/sh -c 'echo \\\\n'" },
      ...[0, 7, 14, 21, 28, 35].map((i) => ({
        path: at(USR_LIB, `3${String(i).padStart(2, "0")}-n.conf`),
        line: 1,
        text: `install x${i} /bin/false`,
      })),
    ];
    expect(parseConfMatches(rows)).toEqual(expected);
    expect(rows.endsWith("\n")).toBe(true);
    // The same files under a directory whose name has a colon: a grep per file, the same rows.
    const colon = path.join(root, "etc:local");
    mkdirSync(colon);
    put(ETC, "10-a.conf", "# moved\n");
    writeFileSync(path.join(colon, "10-a.conf"), "install nf_conntrack /bin/false # a: b\toptions\n");
    const viaColon = sh('re=$1; shift; ctk_conf_grep "$re" "" "$@"', ["^install", colon, ...dirs.slice(1)]);
    expect(parseConfMatches(viaColon)).toEqual([{ ...expected[0], path: path.join(colon, "10-a.conf") }, ...expected.slice(1)]);
  });

  it("orders names the shell finds in any order across directories, bytewise, and leaves out a name with a line break", () => {
    // Names in reverse order in the later directories, so that most go in before the last one.
    const names = Array.from({ length: 30 }, (_, i) => `${String(99 - i).padStart(2, "0")}-n.conf`);
    names.forEach((n, i) => put([ETC, USR_LIB, LIB][i % 3], n, "options m p=1\n"));
    put(RUN, "A.conf", "");
    put(RUN, "a.conf", "");
    put(RUN, "_.conf", "");
    put(LIB, "a.conf", "");
    put(ETC, "new\nline.conf", "install nf_conntrack /bin/false\n");
    const expected = [
      ...names.map((n, i) => at([ETC, USR_LIB, LIB][i % 3], n)),
      at(RUN, "A.conf"),
      at(RUN, "_.conf"),
      at(RUN, "a.conf"),
    ].sort((a, b) => Buffer.compare(Buffer.from(path.basename(a)), Buffer.from(path.basename(b))));
    expect(files()).toEqual(expected);
    expect(grep("install")).toBe("");
  });

  it("reads a regular file among the directories after all their files, hiding nothing (/etc/sysctl.conf)", () => {
    put(ETC, "99-z.conf", "k = etc\n"); // "9" sorts before "a"
    put(LIB, "a.conf", "k = lib\n");
    put(LIB, "sysctl.conf", "k = lib-sysctl\n");
    const conf = path.join(root, "sysctl.conf");
    writeFileSync(conf, "# x\nk = conf\n");
    const rows = (exclude: string) => sh('re=$1; x=$2; shift 2; ctk_conf_grep "$re" "$x" "$@"', ["^k = ", exclude, ...dirs, conf]);
    // Named "sysctl.conf" too, the directory's file is still read, in its place by name; the file last.
    expect(parseConfMatches(rows(""))).toEqual([
      { path: at(ETC, "99-z.conf"), line: 1, text: "k = etc" },
      { path: at(LIB, "a.conf"), line: 1, text: "k = lib" },
      { path: at(LIB, "sysctl.conf"), line: 1, text: "k = lib-sysctl" },
      { path: conf, line: 2, text: "k = conf" },
    ]);
    // Excluded (a kind's managed file), its lines are left out; missing, it says nothing.
    expect(parseConfMatches(rows(conf)).map((m) => m.path)).not.toContain(conf);
    rmSync(conf);
    expect(parseConfMatches(rows("")).map((m) => m.path)).toEqual([at(ETC, "99-z.conf"), at(LIB, "a.conf"), at(LIB, "sysctl.conf")]);
  });

  it("tags rows for a section of several sources: what a `| while read` loop per source printed", () => {
    put(ETC, "10-a.conf", "options nf_conntrack nf_conntrack_helper=1 \\\\x\n# options x\noptions nf_conntrack hashsize=9\r\n");
    put(LIB, "20-b.conf", "options nf_conntrack nf_conntrack_helper=0");
    const sysctlConf = path.join(root, "sysctl.conf");
    writeFileSync(sysctlConf, "x=1\nnet.netfilter.nf_conntrack_helper = 1\n");
    const body = [
      "re=$1; f=$2; shift 2",
      'ctk_conf_grep "$re" "" "$@" | while IFS= read -r l; do printf \'modprobe\\t%s\\n\' "$l"; done',
      'grep -nE "$re|helper = " "$f" | while IFS= read -r l; do printf \'sysctl\\t%s\\t%s\\n\' "$f" "$l"; done',
      "echo ==",
      'ctk_conf_grep_as modprobe "$re" "" "$@"',
      // A regular file among the directories is read after their files, whatever its name.
      'ctk_conf_grep_as sysctl "$re|helper = " "" "$f"',
      // The tag is gone again for a plain call.
      'ctk_conf_grep "$re" "" "$@"',
    ].join("\n");
    const [piped, tagged] = sh(body, ["^options", sysctlConf, ...dirs]).split("==\n");
    expect(tagged).toBe(piped + grep("^options"));
    expect(piped.split("\n").filter(Boolean)).toHaveLength(4);
    expect(sh('ctk_conf_grep_as sysctl x "" "$1"', [path.join(root, "missing")])).toBe("");
  });

  it("parses rows, and nothing else", () => {
    expect(parseConfMatch("/etc/modprobe.d/a:b.conf\t12:install x /bin/false: yes")).toEqual({
      path: "/etc/modprobe.d/a:b.conf",
      line: 12,
      text: "install x /bin/false: yes",
    });
    expect(parseConfMatch("garbage")).toBeNull();
    expect(parseConfMatch("/etc/x.conf\tno number")).toBeNull();
    expect(parseConfMatches("\n\nx\n")).toEqual([]);
    // A line of a file saved with CRLF ends is still a line modprobe reads.
    expect(parseConfMatch("/etc/x.conf\t3:install nf_conntrack /bin/false\r")?.text).toBe("install nf_conntrack /bin/false\r");
  });
});

describe("NotrackRule's conntrack check over the reader", () => {
  it("does not report an `install nf_conntrack /bin/false` that a file of the same name in /etc hides", () => {
    put(LIB, "blacklist-conntrack.conf", "install nf_conntrack /bin/false\n");
    put(ETC, "blacklist-conntrack.conf", "# conntrack allowed on this host\n");
    expect(parseCoreBlocks(grep(CORE_INSTALL_ERE), "ro quiet")).toEqual([]);
    // The same line where nothing hides it is reported, with its file and line.
    rmSync(at(ETC, "blacklist-conntrack.conf"));
    expect(parseCoreBlocks(grep(CORE_INSTALL_ERE), "ro quiet")).toEqual([
      { where: `${at(LIB, "blacklist-conntrack.conf")}:1`, text: "install nf_conntrack /bin/false", module: "nf_conntrack" },
    ]);
  });
});

describe("NotrackRule's one pass for both kinds of block", () => {
  // Lines near every edge of the two EREs: directive, separator, `-`/`_`, prefixes of longer names,
  // end of line, leading blanks, comments, and the other kind's modules.
  const CORPUS = [
    "install nf_conntrack /bin/false",
    "install nf-conntrack /bin/true",
    "install nf_conntrack",
    "install nf_conntrack ",
    "install nf_conntrack\t/bin/false",
    "  \tinstall   nf_defrag_ipv6 /bin/false",
    "install nf_conntrack_ipv4 /bin/false",
    "install nf_conntrackx /bin/false",
    "blacklist nf_conntrack",
    "blacklist nf_conntrack_ftp",
    "blacklist nf-conntrack-ftp",
    "blacklist nf_conntrack_ftpx",
    "install nf_conntrack_ftp /bin/false",
    "install nf_conntrack_ftp",
    "install nf_conntrack_netbios_ns /sbin/modprobe --ignore-install nf_conntrack_netbios_ns",
    "install nf_conntrack_sip\v/bin/false",
    "# install nf_conntrack /bin/false",
    "options nf_conntrack hashsize=1024",
    "installnf_conntrack /bin/false",
    "install  nf_conntrack_h323\r",
    "blacklist\tnf_conntrack_amanda",
    "install nf_nat_ftp /bin/false",
  ];
  it("grep -E with the union, split by each ERE in TypeScript, finds exactly what grep -E with that ERE finds", () => {
    put(ETC, "a.conf", `${CORPUS.join("\n")}\n`);
    put(LIB, "b.conf", `${CORPUS.slice().reverse().join("\n")}\n`);
    const union = grep(MODPROBE_BLOCK_ERE);
    for (const ere of [CORE_INSTALL_ERE, HELPER_BLOCK_ERE]) {
      expect(confRowsMatching(union, ereRegExp(ere)), ere).toBe(grep(ere).trimEnd());
      expect(grep(ere).trim(), ere).not.toBe("");
    }
  });

  it("digests the rows of each ERE, split from the union, as `ctk_conf_grep ERE | sha256sum` prints it on the host", () => {
    const digest = (ere: string) => sh('re=$1; shift; ctk_conf_grep "$re" "" "$@" | sha256sum | cut -c1-64', [ere, ...dirs]).trim();
    // No line at all: the digest of nothing, on both sides.
    for (const ere of [CORE_INSTALL_ERE, MODPROBE_BLOCK_ERE])
      expect(confRowsDigest(grep(MODPROBE_BLOCK_ERE), ereRegExp(ere))).toBe(digest(ere));
    put(ETC, "a.conf", `${CORPUS.join("\n")}\n`);
    put(LIB, "b.conf", `${CORPUS.slice().reverse().join("\n")}\n`);
    const union = grep(MODPROBE_BLOCK_ERE);
    for (const ere of [CORE_INSTALL_ERE, HELPER_BLOCK_ERE, MODPROBE_BLOCK_ERE]) {
      expect(confRowsDigest(union, ereRegExp(ere)), ere).toBe(digest(ere));
    }
    // One more line that keeps the core out changes the core's digest, and a helper's line does not.
    const before = confRowsDigest(union, ereRegExp(CORE_INSTALL_ERE));
    put(ETC, "c.conf", "blacklist nf_conntrack_tftp\n");
    expect(digest(CORE_INSTALL_ERE)).toBe(before);
    put(ETC, "d.conf", "install nf_defrag_ipv4 /bin/false\n");
    expect(digest(CORE_INSTALL_ERE)).not.toBe(before);
  });

  it("gives no digest of rows whose bytes did not decode: they would never match the host's", () => {
    expect(
      confRowsDigest("/etc/modprobe.d/x.conf\t1:install nf_conntrack /bin/false # caf\uFFFD", ereRegExp(CORE_INSTALL_ERE)),
    ).toBeUndefined();
    expect(confRowsDigest("/etc/modprobe.d/x.conf\t1:blacklist nf_conntrack_ftp # caf\uFFFD", ereRegExp(CORE_INSTALL_ERE))).toMatch(
      /^[0-9a-f]{64}$/,
    );
  });

  it("knows only the character class the package's EREs use", () => {
    expect(ereRegExp("^[[:space:]]*a").test(" \ta")).toBe(true);
    expect(() => ereRegExp("[[:alpha:]]")).toThrow(/character class/);
  });
});

describe("every observe script that reads modprobe.d", () => {
  it("uses the one reader over the five directories in kmod's order, and lists none itself", () => {
    expect(MODPROBE_D_DIRS).toEqual([
      "/etc/modprobe.d",
      "/run/modprobe.d",
      "/usr/local/lib/modprobe.d",
      "/usr/lib/modprobe.d",
      "/lib/modprobe.d",
    ]);
    expect(modprobeGrep("x")).toBe(`ctk_conf_grep x "" ${MODPROBE_D_DIRS.join(" ")}`);
    for (const [name, s] of Object.entries({ HELPER_OBSERVE, NOTRACK_OBSERVE, TABLE_OBSERVE })) {
      expect(s, name).toContain(CONF_DIR_FUNCTIONS);
      const rest = s.replace(CONF_DIR_FUNCTIONS, "");
      expect(rest, name).toContain(`${MODPROBE_D_DIRS.join(" ")}`);
      // No loop of its own over a modprobe.d directory.
      expect(rest.replaceAll(MODPROBE_D_DIRS.join(" "), ""), name).not.toMatch(/modprobe\.d\/\*|modprobe\.d \//);
    }
  });
});

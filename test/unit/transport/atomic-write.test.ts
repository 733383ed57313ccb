/**
 * The one atomic-write fragment (provider/transport/files.ts): its text, every apply script that
 * writes a file including it, and its behaviour run by this machine's /bin/sh in a temporary
 * directory (no host, no root): a write or removal sweeps the temporary files a killed earlier
 * write of the same file left, and only those.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ATOMIC_WRITE_FUNCTIONS, contentSha256, WRITE_FILE_SCRIPT } from "../../../provider/transport/files";
import { EXIT } from "../../../provider/transport/exit-codes";
import { APPLY_SCRIPT as HELPER_APPLY } from "../../../provider/resources/helper-setting/apply";
import { APPLY_SCRIPT as NOTRACK_APPLY } from "../../../provider/resources/notrack-rule/apply";
import { APPLY_SCRIPT as TABLE_APPLY } from "../../../provider/resources/table-size/apply";

let dir = "";
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** Runs `body` after the fragment under /bin/sh with positional parameters; returns stdout. */
function sh(body: string, args: string[], input = ""): string {
  return execFileSync("/bin/sh", ["-c", `${ATOMIC_WRITE_FUNCTIONS}\n${body}`, "sh", ...args], { input, encoding: "utf8" });
}

const dotfiles = (d: string) =>
  readdirSync(d)
    .filter((f) => f.startsWith("."))
    .sort();

describe("atomic-write fragment", () => {
  it("is the one convention: every apply script that writes a file includes it, and none names its own temporary file", () => {
    for (const s of [HELPER_APPLY, NOTRACK_APPLY, TABLE_APPLY, WRITE_FILE_SCRIPT]) {
      expect(s).toContain(ATOMIC_WRITE_FUNCTIONS);
      expect(s.replace(ATOMIC_WRITE_FUNCTIONS, "")).not.toContain(".ctk-tmp");
    }
    // The module-blacklist script is not exported; its module imports the fragment (see apply.ts).
    expect(readFileSync(path.join(__dirname, "../../../provider/resources/module-blacklist/apply.ts"), "utf8")).toContain(
      "${ATOMIC_WRITE_FUNCTIONS}",
    );
  });

  it("parses under sh -n, alone and inside each apply script", () => {
    for (const s of [ATOMIC_WRITE_FUNCTIONS, WRITE_FILE_SCRIPT, HELPER_APPLY, NOTRACK_APPLY, TABLE_APPLY]) {
      execFileSync("/bin/sh", ["-n", "-c", s]);
    }
  });

  it("writes atomically, keeps an existing file's mode, gives a new one the mode asked, and leaves no temporary file", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    const f = path.join(dir, "sub", "a.conf");
    sh('ctk_write_file "$1" "$2" "$3"', [f, "0640", contentSha256("one $(x) 'q'\n")], "one $(x) 'q'\n");
    expect(readFileSync(f, "utf8")).toBe("one $(x) 'q'\n");
    expect((statSync(f).mode & 0o777).toString(8)).toBe("640");
    sh('ctk_write_file "$1" "$2" "$3"', [f, "0600", contentSha256("two\n")], "two\n");
    expect(readFileSync(f, "utf8")).toBe("two\n");
    expect((statSync(f).mode & 0o777).toString(8)).toBe("640");
    expect(dotfiles(path.join(dir, "sub"))).toEqual([]);
  });

  it("a write or a removal sweeps its own file's leftovers, old unnamed ones after 10 minutes, and nothing else", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    const f = path.join(dir, "a.conf");
    const leftovers = [".ctk-tmp.a.conf.Ab12Cd", ".ctk-tmp.a.conf.zz99Yy"];
    // Not ours to remove: another file's temporary files (one whose name starts like ours), a
    // fresh unnamed one (a writer of an older release may be running), and unrelated dotfiles.
    const others = [".ctk-tmp.a.conf.x.Ab12Cd", ".ctk-tmp.a.confx.Ab12Cd", ".ctk-tmp.b.conf.Ab12Cd", ".ctk-tmp.fresh1", ".keep"];
    const oldUnnamed = ".ctk-tmp.old123";
    const touch = () => {
      for (const n of [...leftovers, ...others, oldUnnamed]) writeFileSync(path.join(dir, n), "x");
      const past = new Date(Date.now() - 20 * 60_000);
      utimesSync(path.join(dir, oldUnnamed), past, past);
    };
    touch();
    sh('ctk_write_file "$1" 0644 "$2"', [f, contentSha256("v\n")], "v\n");
    expect(dotfiles(dir)).toEqual([...others].sort());
    touch();
    sh('ctk_remove_file "$1"', [f]);
    expect(readdirSync(dir).includes("a.conf")).toBe(false);
    expect(dotfiles(dir)).toEqual([...others].sort());
  });

  it("splits a file's path as dirname and basename do, without running them", () => {
    for (const p of ["/etc/nftables.conf", "/x", "//etc//x", "relative.conf", "/etc/modprobe.d/a b.conf", "/etc/*?[x].conf"]) {
      const [d, b] = sh('ctk_path_split "$1"; printf \'%s\\n%s\\n\' "$_ctkd" "$_ctkb"', [p]).split("\n");
      expect([d, b], p).toEqual([
        execFileSync("dirname", ["--", p], { encoding: "utf8" }).trimEnd(),
        execFileSync("basename", ["--", p], { encoding: "utf8" }).trimEnd(),
      ]);
    }
  });

  it("a file name with glob characters sweeps only its own leftovers", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    for (const n of [".ctk-tmp.x.conf.Ab12Cd", ".ctk-tmp.*.Ab12Cd"]) writeFileSync(path.join(dir, n), "x");
    sh('ctk_remove_file "$1"', [path.join(dir, "*")]);
    expect(dotfiles(dir)).toEqual([".ctk-tmp.x.conf.Ab12Cd"]);
  });

  it("ctk_write_text writes its argument byte for byte, atomically, with the same modes and no temporary file", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    const f = path.join(dir, "sub", "a.conf");
    const text = "one $(x) 'q' \\n %s -- \"\n\ttwo\n\n";
    sh('ctk_write_text "$1" "$2" "$3"', [f, "0640", text]);
    expect(readFileSync(f, "utf8")).toBe(text);
    expect((statSync(f).mode & 0o777).toString(8)).toBe("640");
    sh('ctk_write_text "$1" "$2" "$3"', [f, "0600", ""]);
    expect(readFileSync(f, "utf8")).toBe("");
    expect((statSync(f).mode & 0o777).toString(8)).toBe("640");
    expect(dotfiles(path.join(dir, "sub"))).toEqual([]);
  });

  it("ctk_write_text reports a failed write and leaves no temporary file", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    const f = path.join(dir, "a.conf");
    const r = spawnSync("/bin/sh", ["-c", `${ATOMIC_WRITE_FUNCTIONS}\nctk_write_text "$1" 0999 "$2"`, "sh", f, "v\n"], {
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a failed write removes its temporary file and reports failure", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    const f = path.join(dir, "a.conf");
    // A mode chmod refuses: the commit fails after the temporary file was written.
    expect(() => sh('ctk_write_file "$1" 0999 "$2"', [f, contentSha256("v\n")], "v\n")).toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("input that did not arrive whole (a client that went away) is not written: the file keeps its bytes, no temporary file stays", () => {
    dir = mkdtempSync(path.join(tmpdir(), "ctk-aw-"));
    const f = path.join(dir, "nftables.conf");
    writeFileSync(f, "flush ruleset\ntable inet filter {}\n");
    const whole = "flush ruleset\ntable inet filter {}\n# BEGIN pulumi-conntrack\n# END pulumi-conntrack\n";
    // Nothing arrived, then half of it: both are refused with the one status, before the rename.
    for (const arrived of ["", whole.slice(0, 20)]) {
      const r = spawnSync("/bin/sh", ["-c", `${ATOMIC_WRITE_FUNCTIONS}\nctk_write_file "$1" 0644 "$2"`, "sh", f, contentSha256(whole)], {
        input: arrived,
        encoding: "utf8",
      });
      expect(r.status).toBe(EXIT.INPUT_INCOMPLETE);
      expect(r.stderr).toMatch(/did not arrive whole/);
      expect(readFileSync(f, "utf8")).toBe("flush ruleset\ntable inet filter {}\n");
      expect(dotfiles(dir)).toEqual([]);
    }
    // An empty file is a content like any other when it is what was sent.
    sh('ctk_write_file "$1" 0644 "$2"', [f, contentSha256("")], "");
    expect(readFileSync(f, "utf8")).toBe("");
  });

  it("every apply script that writes standard input to a file checks it whole (ctk_tmp_fill or ctk_write_file with a sum)", () => {
    expect(NOTRACK_APPLY).toMatch(/ctk_tmp_fill "\$tmp" "\$csum"/);
    expect(NOTRACK_APPLY.replace(ATOMIC_WRITE_FUNCTIONS, "")).not.toMatch(/cat > /);
    for (const s of [HELPER_APPLY, WRITE_FILE_SCRIPT])
      for (const call of s.replace(ATOMIC_WRITE_FUNCTIONS, "").match(/ctk_write_file [^\n|]*/g) ?? [])
        expect(call.trim().split(/\s+/).length, call).toBe(4);
    // ConntrackTableSize's content is an argument (whole with the command line): ctk_write_text sums it itself.
    expect(TABLE_APPLY).toMatch(/ctk_write_text "\$f" 0644 "\$c"/);
    expect(ATOMIC_WRITE_FUNCTIONS).toMatch(
      /ctk_write_text\(\) \{\n {2}_ctkw=\$\(printf '%s' "\$3" \| sha256sum\)\n {2}printf '%s' "\$3" \| ctk_write_file "\$1" "\$2" "\$\{_ctkw%% \*\}"/,
    );
    expect(readFileSync(path.join(__dirname, "../../../provider/resources/module-blacklist/apply.ts"), "utf8")).toContain(
      'ctk_write_file "$f" "$fmode" "$fsum"',
    );
  });
});

/** Commands issued together for one host: grouping, framing, and the driver run by a local sh. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  Coalescer,
  coalesceSettings,
  DRIVER,
  FOLLOWED_CHANGE_DRIVER,
  groupInput,
  FrameReader,
  OBSERVE_DRIVER,
  parseGroupOutput,
  type GroupMember,
  type MemberResult,
} from "../../../provider/transport/coalesce";
import { remoteCommandLine, script } from "../../../provider/transport/exec";
import { EXIT } from "../../../provider/transport/exit-codes";

const saved = { ...coalesceSettings };
afterEach(() => Object.assign(coalesceSettings, saved));

/** Runs the driver with the machine's own sh, as sshd would run it on a host. */
function runDriver(members: GroupMember[]) {
  const r = spawnSync("sh", ["-c", DRIVER], { input: groupInput(members) });
  return { status: r.status, outcomes: parseGroupOutput(r.stdout, members.length) };
}

const member = (argv: string[], stdin?: string | Buffer): GroupMember => ({ line: remoteCommandLine({ sudo: false }, argv), stdin });

describe("the group driver", () => {
  it("runs each command with its own stdin and reports exit code, stdout and stderr apart", () => {
    const { status, outcomes } = runDriver([
      member(script('echo out; echo err >&2; exit "$1"', ["3"])),
      member(["cat"], "a\0b\nc"),
      member(script('printf "%s|" "$@"', ["it's", "$(id)", "line1\nline2", ""])),
      member(["true"]),
      member(["sh", "-c", "kill -TERM $$"]),
    ]);
    expect(status).toBe(0);
    expect(outcomes.map((o) => o.exitCode)).toEqual([3, 0, 0, 0, 143]);
    expect(outcomes[0].stdout.toString()).toBe("out\n");
    expect(outcomes[0].stderr.toString()).toBe("err\n");
    expect(outcomes[1].stdout.toString()).toBe("a\0b\nc");
    expect(outcomes[2].stdout.toString()).toBe("it's|$(id)|line1\nline2||");
    expect(outcomes[3].stdout.length + outcomes[3].stderr.length).toBe(0);
  });

  it("carries outputs that look like its own frames, and large binary stdin, byte for byte", () => {
    const big = Buffer.alloc(300_000, 7);
    big[5] = 0x0a;
    const { outcomes } = runDriver([member(["printf", "%s\\n", "1 0 5 5", "0 0 0 0"]), member(["cat"], big), member(["wc", "-c"])]);
    expect(outcomes[0].stdout.toString()).toBe("1 0 5 5\n0 0 0 0\n");
    expect(Buffer.compare(outcomes[1].stdout, big)).toBe(0);
    expect(outcomes[2].stdout.toString().trim()).toBe("0");
  });
});

describe("the group driver, input cut short", () => {
  it("runs no command when its input ended early (the client went away): a command line cut short is another command", () => {
    const input = groupInput([member(["sh", "-c", "echo first"]), member(["sh", "-c", "rm -rf /nonexistent-ctk; echo second"])]);
    // Every proper prefix: the header alone, part of the first command line, up to all but one byte.
    for (const cut of [0, 5, input.indexOf(0x0a) + 1, input.indexOf(0x0a) + 10, input.length - 1]) {
      const r = spawnSync("sh", ["-c", DRIVER], { input: input.subarray(0, cut) });
      expect(r.status, `cut at ${cut}`).toBe(EXIT.DRIVER_INPUT_INCOMPLETE);
      expect(r.stdout.length, `cut at ${cut}`).toBe(0);
    }
    expect(spawnSync("sh", ["-c", DRIVER], { input }).stdout.toString()).toContain("second");
  });
});

describe("parseGroupOutput and FrameReader", () => {
  it("reads reports in any order, by their index, as the bytes arrive", () => {
    const out = Buffer.from("1 0 3 0\nbee0 2 1 1\nAE");
    const r = new FrameReader(2);
    const got: string[] = [];
    // One byte at a time: a report is handed out only once it is complete.
    for (const b of out)
      for (const f of r.push(Buffer.from([b]))) got.push(`${f.index}:${f.outcome.exitCode}:${f.outcome.stdout}:${f.outcome.stderr}`);
    expect(got).toEqual(["1:0:bee:", "0:2:A:E"]);
    expect(parseGroupOutput(out, 2).map((o) => o.stdout.toString())).toEqual(["A", "bee"]);
  });

  it("stops at anything but a report of a command not yet reported", () => {
    for (const bad of ["0 0 1 0\nx0 0 1 0\ny", "2 0 0 0\n", "zz\n0 0 0 0\n"]) {
      const r = new FrameReader(2);
      const got = r.push(Buffer.from(bad));
      expect(got.length, bad).toBeLessThanOrEqual(1);
      expect(r.push(Buffer.from("1 0 0 0\n")), bad).toEqual([]);
    }
  });

  it("stops at a command that did not report", () => {
    const out = Buffer.from("0 0 2 0\nhi1 1 0 0\n2 0 5 0\nabc");
    expect(parseGroupOutput(out, 3).map((o) => [o.exitCode, o.stdout.toString()])).toEqual([
      [0, "hi"],
      [1, ""],
    ]);
  });
});

describe("Coalescer", () => {
  function recorder() {
    const groups: string[][] = [];
    const c = new Coalescer<GroupMember, string>(async (ms): Promise<MemberResult<string>[]> => {
      groups.push(ms.map((m) => m.line));
      return ms.map((m) =>
        m.line.startsWith("bad") ? { ok: false, error: new Error(m.line) } : { ok: true, value: m.line.toUpperCase() },
      );
    });
    return { groups, c };
  }

  it("groups what one key issues within the window, keeps keys apart, answers each member", async () => {
    coalesceSettings.quietMs = 200;
    coalesceSettings.maxWaitMs = 5000;
    const { groups, c } = recorder();
    const ps = [c.submit("k1", { line: "a" }), c.submit("k2", { line: "z" })];
    await new Promise((r) => setImmediate(r));
    ps.push(c.submit("k1", { line: "bad-b" }), c.submit("k1", { line: "c" }));
    const r = await Promise.allSettled(ps);
    expect(r.map((x) => (x.status === "fulfilled" ? x.value : (x.reason as Error).message))).toEqual(["A", "Z", "bad-b", "C"]);
    expect(groups).toContainEqual(["a", "bad-b", "c"]);
    expect(groups).toContainEqual(["z"]);
  });

  it("closes a group at its size limits", async () => {
    Object.assign(coalesceSettings, { quietMs: 200, maxWaitMs: 5000, maxMembers: 2 });
    const { groups, c } = recorder();
    await Promise.all(["a", "b", "c"].map((line) => c.submit("k", { line })));
    expect(groups).toEqual([["a", "b"], ["c"]]);
    Object.assign(coalesceSettings, { maxMembers: 32, maxBytes: 100 });
    groups.length = 0;
    await Promise.all([c.submit("k", { line: "x".repeat(60) }), c.submit("k", { line: "y".repeat(60) })]);
    expect(groups.map((g) => g.length)).toEqual([1, 1]);
  });
});

describe("the observation driver (a host's reads on one channel, side by side)", () => {
  const line = (src: string, ...args: string[]) => remoteCommandLine({ sudo: false }, script(src, args));

  it("reports each command's exit code, stdout and stderr apart, in order, byte for byte", () => {
    const lines = [
      line('printf "%s" "$1"; echo oops >&2; exit 3', "first\n0 0 5 0\nlooks like a frame"),
      line("printf 'second'"),
      line("head -c 3 /dev/zero; exit 0"),
    ];
    const r = spawnSync("sh", ["-c", OBSERVE_DRIVER, "sh", ...lines]);
    expect(r.status).toBe(0);
    const o = parseGroupOutput(r.stdout, 3);
    expect(o.map((x) => x.exitCode)).toEqual([3, 0, 0]);
    expect(o[0].stdout.toString()).toBe("first\n0 0 5 0\nlooks like a frame");
    expect(o[0].stderr.toString()).toBe("oops\n");
    expect(o[1].stdout.toString()).toBe("second");
    expect(o[2].stdout).toEqual(Buffer.alloc(3));
  });

  it("runs the commands side by side: two that each wait for the other both finish", () => {
    const d = mkdtempSync(path.join(tmpdir(), "ctk-obs-"));
    try {
      // Each marks itself, then waits (at most 10 s) for the other's mark: in order, the first would give up.
      const meet = (me: string, other: string) =>
        line(
          'touch "$1/$2"; i=0; while [ ! -e "$1/$3" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; [ -e "$1/$3" ]',
          d,
          me,
          other,
        );
      const r = spawnSync("sh", ["-c", OBSERVE_DRIVER, "sh", meet("a", "b"), meet("b", "a")]);
      expect(parseGroupOutput(r.stdout, 2).map((x) => x.exitCode)).toEqual([0, 0]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("reports each command as soon as it ends, not in the order given", () => {
    const r = spawnSync("sh", ["-c", OBSERVE_DRIVER, "sh", line("sleep 0.5; printf slow"), line("printf fast")]);
    expect(r.status).toBe(0);
    // The fast one's report comes first; each report names its command.
    expect(r.stdout.toString().startsWith("1 0 4 0\nfast")).toBe(true);
    expect(parseGroupOutput(r.stdout, 2).map((x) => x.stdout.toString())).toEqual(["slow", "fast"]);
  });

  it("gives no command its standard input", () => {
    const r = spawnSync("sh", ["-c", OBSERVE_DRIVER, "sh", line("cat")], { input: "not for the command" });
    expect(parseGroupOutput(r.stdout, 1)[0].stdout.toString()).toBe("");
  });

  it("runs a line with no shell of its own, and still reports every command when one line is not valid shell", () => {
    // The script's parent is a copy of the driver (its side-by-side subshell, whose command line
    // is the driver's), not a further `sh -c LINE`. `mk[f]ifo` matches the driver's text, not the line's.
    const r = spawnSync("sh", [
      "-c",
      OBSERVE_DRIVER,
      "sh",
      line('tr "\\0" " " < /proc/$PPID/cmdline | grep -q "mk[f]ifo" && echo driver; echo "$LC_ALL"'),
      "echo 'unterminated",
      line("printf after"),
    ]);
    expect(r.status).toBe(0);
    const o = parseGroupOutput(r.stdout, 3);
    expect(o.map((x) => x.exitCode)).toEqual([0, 2, 0]);
    expect(o[0].stdout.toString()).toBe("driver\nC\n");
    expect(o[1].stderr.toString()).toMatch(/unterminated|syntax|EOF/i);
    expect(o[2].stdout.toString()).toBe("after");
  });
});

describe("the followed-change driver (a change, then the host's reads, on one channel)", () => {
  const line = (src: string, ...args: string[]) => remoteCommandLine({ sudo: false }, script(src, args));
  const run = (lines: string[], input?: string | Buffer, env?: NodeJS.ProcessEnv) =>
    spawnSync("sh", ["-c", FOLLOWED_CHANGE_DRIVER, "sh", ...lines], { input, env: env ?? process.env });

  it("runs the change first with the channel's stdin, then each read without it, and reports each apart", () => {
    const d = mkdtempSync(path.join(tmpdir(), "ctk-follow-"));
    try {
      const r = run(
        [
          line('cat > "$1/f"; printf changed; echo note >&2; exit 4', d),
          line('cat "$1/f"; cat; printf "|%s" "$2"', d, "it's $(id)"),
          line("printf '0 0 5 0\nlooks like a frame'; exit 2"),
        ],
        "the change's input\0with a NUL",
      );
      expect(r.status).toBe(0);
      // The change's report comes first, before any read ran.
      expect(r.stdout.toString().startsWith("0 4 7 5\nchanged")).toBe(true);
      const o = parseGroupOutput(r.stdout, 3);
      expect(o.map((x) => x.exitCode)).toEqual([4, 0, 2]);
      expect(o[0].stderr.toString()).toBe("note\n");
      // The read sees what the change left, and gets no stdin of its own.
      expect(o[1].stdout.toString()).toBe("the change's input\0with a NUL|it's $(id)");
      expect(o[2].stdout.toString()).toBe("0 0 5 0\nlooks like a frame");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("runs nothing when it cannot make its private directory, and says so by its exit code", () => {
    const d = mkdtempSync(path.join(tmpdir(), "ctk-follow-"));
    try {
      const r = run([line('touch "$1/ran"', d), line('touch "$1/read"', d)], "", { ...process.env, TMPDIR: path.join(d, "missing") });
      expect(r.status).toBe(EXIT.DRIVER_SETUP_FAILED);
      expect(r.stdout.length).toBe(0);
      expect(readdirSync(d)).toEqual([]);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("remoteCommandLine", () => {
  const words = (line: string): string[] =>
    JSON.parse(
      spawnSync("sh", [
        "-c",
        `${line.replace(/^(sudo -n -- )?/, "node -e 'console.log(JSON.stringify(process.argv.slice(1)))' ")}`,
      ]).stdout.toString(),
    );

  it("sets a script's environment inside the script, on its first line: no env program in front", () => {
    const l = remoteCommandLine({ sudo: false }, script('echo "$1"', ["it's $(id)"]));
    expect(l.startsWith("sh -c ")).toBe(true);
    const r = spawnSync("sh", ["-c", l], { env: { PATH: "/usr/bin:/bin", LC_ALL: "de_DE.UTF-8" } });
    expect(r.stdout.toString()).toBe("it's $(id)\n");
    const env = spawnSync("sh", ["-c", remoteCommandLine({ sudo: false }, script('echo "$LC_ALL $PATH"'))], { env: { PATH: "/bin" } });
    expect(env.stdout.toString()).toBe("C /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    // The shell's messages still name the script's own line numbers.
    const bad = spawnSync("sh", ["-c", remoteCommandLine({ sudo: false }, script("true\nfi"))]);
    expect(bad.stderr.toString()).toMatch(/\b2: .*fi/);
  });

  it("puts env in front of any other command, and sudo -n in front of either", () => {
    expect(remoteCommandLine({ sudo: false }, ["cat", "/etc/hosts"])).toBe(
      "env LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin cat /etc/hosts",
    );
    expect(remoteCommandLine({ sudo: true }, ["cat", "x y"]).startsWith("sudo -n -- env LC_ALL=C ")).toBe(true);
    const s = remoteCommandLine({ sudo: true }, script("true", ["a b"]));
    expect(s.startsWith("sudo -n -- sh -c ")).toBe(true);
    expect(words(s)).toEqual([
      "sh",
      "-c",
      "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; true",
      "sh",
      "a b",
    ]);
  });
});

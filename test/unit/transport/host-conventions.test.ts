/**
 * The host-side conventions kept in one place (provider/transport/host-lock.ts, exit-codes.ts):
 * one code per meaning, one lock fragment that every apply script includes (no script has a lock
 * or a wait of its own), and the fragment's behaviour run by this machine's /bin/sh against a
 * private lock file (never the real one under /run, which other runs on this machine may hold).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RemoteCommandError } from "../../../provider/errors";
import { APPLY_SCRIPT as HELPER_APPLY } from "../../../provider/resources/helper-setting/apply";
import { APPLY_SCRIPT as BLACKLIST_APPLY } from "../../../provider/resources/module-blacklist/apply";
import { APPLY_SCRIPT as NOTRACK_APPLY } from "../../../provider/resources/notrack-rule/apply";
import { APPLY_SCRIPT as TABLE_APPLY } from "../../../provider/resources/table-size/apply";
import { EXIT, exitName } from "../../../provider/transport/exit-codes";
import {
  HOST_LOCK_PATH,
  HOST_LOCK_WAIT_SECONDS,
  lockTimeoutError,
  RELEASE_HOST_LOCK,
  TAKE_HOST_LOCK,
} from "../../../provider/transport/host-lock";

const PROVIDER = path.join(__dirname, "../../../provider");

/** Every .ts file under provider/, with its path relative to it. */
function providerSources(dir = PROVIDER): Array<{ file: string; text: string }> {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return providerSources(p);
    return p.endsWith(".ts") ? [{ file: path.relative(PROVIDER, p), text: readFileSync(p, "utf8") }] : [];
  });
}

const APPLY_SCRIPTS = { HELPER_APPLY, BLACKLIST_APPLY, NOTRACK_APPLY, TABLE_APPLY };

describe("exit codes", () => {
  it("give no two meanings the same code, and none of the shell's own", () => {
    const codes = Object.values(EXIT);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, code] of Object.entries(EXIT) as Array<[string, number]>) {
      if (name === "OK" || name === "FAILED") continue;
      // 2: shell errors; 126-165: cannot run, not found, signals; 255: ssh's own failure.
      expect(code === 2 || (code >= 126 && code <= 165) || code === 255, `${name}=${code}`).toBe(false);
      expect(exitName(code)).toBe(name);
    }
    expect(exitName(4)).toBeUndefined();
  });

  it("are the only numbers the scripts exit with (besides 128+N for a signal)", () => {
    const allowed = new Set<number>(Object.values(EXIT));
    let seen = 0;
    for (const { file, text } of providerSources()) {
      for (const m of text.matchAll(/\bexit (\d+)\b/g)) {
        const n = Number(m[1]);
        // Comments and error messages quote remote tools' codes ("exit 1 when..."): only script text counts.
        const line = text.slice(text.lastIndexOf("\n", m.index) + 1, text.indexOf("\n", m.index));
        if (/^\s*(\*|\/\/)/.test(line) || line.includes("--warn-at")) continue;
        expect(allowed.has(n) || (n > 128 && n < 160), `${file}: ${line.trim()}`).toBe(true);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(0);
  });
});

describe("host lock", () => {
  it("is taken by every apply script through the one fragment, with the one wait", () => {
    for (const [name, s] of Object.entries(APPLY_SCRIPTS)) {
      expect(s.split(TAKE_HOST_LOCK).length - 1, `${name} takes the lock once`).toBe(1);
      const rest = s.replace(TAKE_HOST_LOCK, "");
      expect(rest, name).not.toContain(HOST_LOCK_PATH);
      expect(rest, name).not.toMatch(/\bflock\b/);
    }
    expect(TAKE_HOST_LOCK).toContain(`flock -w ${HOST_LOCK_WAIT_SECONDS} 9`);
    expect(TAKE_HOST_LOCK).toContain(`exit ${EXIT.LOCK_TIMEOUT}`);
  });

  it("is named, and waited for, in host-lock.ts only: no source file has a lock path or flock of its own", () => {
    for (const { file, text } of providerSources()) {
      if (file === path.join("transport", "host-lock.ts")) continue;
      expect(text, file).not.toContain("pulumi-conntrack.lock");
      expect(text, file).not.toMatch(/flock -w/);
    }
  });

  it("waits less than the client's default command timeout (120 s), so a timeout is the lock's refusal, not a cut", () => {
    expect(HOST_LOCK_WAIT_SECONDS).toBeLessThan(120);
  });

  describe("fragment run by /bin/sh", () => {
    let dir = "";
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = "";
    });

    /** The fragment on a private lock file, with a one-second wait. */
    const fragment = (lock: string) => TAKE_HOST_LOCK.replaceAll(HOST_LOCK_PATH, lock).replace(`-w ${HOST_LOCK_WAIT_SECONDS} `, "-w 1 ");

    it.skipIf(spawnSync("sh", ["-c", "command -v flock"]).status !== 0)(
      "exits LOCK_TIMEOUT and runs nothing after it while another holds the lock; runs on once it is free",
      async () => {
        dir = mkdtempSync(path.join(tmpdir(), "ctk-lock-"));
        const lock = path.join(dir, "lock");
        const marker = path.join(dir, "ran");
        const body = `${fragment(lock)}\ntouch "${marker}"\n${RELEASE_HOST_LOCK}`;
        // The holder prints once it holds the lock and keeps it until its stdin closes.
        const holder = spawn("flock", [lock, "sh", "-c", "echo held; cat >/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
        await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
        const blocked = spawnSync("/bin/sh", ["-c", body], { encoding: "utf8" });
        expect(blocked.status).toBe(EXIT.LOCK_TIMEOUT);
        expect(blocked.stderr).toContain(`waiting for ${lock}`);
        expect(() => statSync(marker)).toThrow();
        holder.stdin.end();
        await new Promise((resolve) => holder.once("close", resolve));
        const free = spawnSync("/bin/sh", ["-c", body], { encoding: "utf8" });
        expect(free.status, free.stderr).toBe(EXIT.OK);
        expect(statSync(marker).isFile()).toBe(true);
      },
    );
  });

  it("turns a LOCK_TIMEOUT exit into an error naming the host, the command and the retry", () => {
    const conn = { host: "10.0.0.1", port: 22, user: "root", sudo: false } as Parameters<typeof lockTimeoutError>[0];
    const e = lockTimeoutError(conn, "apply x", { exitCode: EXIT.LOCK_TIMEOUT, stdout: "", stderr: "timed out", durationMs: 1 });
    expect(e).toBeInstanceOf(RemoteCommandError);
    expect(e.exitCode).toBe(EXIT.LOCK_TIMEOUT);
    expect(e.message).toContain(HOST_LOCK_PATH);
    expect(e.message).toContain("nothing was changed");
    expect(e.command).toBe("apply x");
    expect(e.hint).toMatch(/pulumi up/);
  });
});

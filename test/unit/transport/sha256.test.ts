/**
 * The one shell idiom for the sha256 of a command's output (provider/transport/sha256.ts), run by
 * this machine's /bin/sh against Node's sha256 of the same bytes.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { EMPTY_SHA256, OUT_SUM_FUNCTION } from "../../../provider/transport/sha256";

const sha = (b: string) => createHash("sha256").update(Buffer.from(b, "latin1")).digest("hex");

describe("ctk_out_sum", () => {
  it("gives what `CMD | sha256sum` gives, byte for byte, and takes no sha256sum for an empty output", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ctk-sum-"));
    try {
      // A sha256sum on PATH that logs being run, then runs the real one.
      const real = execFileSync("sh", ["-c", "command -v sha256sum"], { encoding: "utf8" }).trim();
      writeFileSync(path.join(dir, "sha256sum"), `#!/bin/sh\necho run >> "${dir}/log"\nexec ${real} "$@"\n`);
      chmodSync(path.join(dir, "sha256sum"), 0o755);
      const sum = (text: string) => {
        writeFileSync(path.join(dir, "in"), text, "latin1");
        rmSync(path.join(dir, "log"), { force: true });
        const out = execFileSync(
          "/bin/sh",
          ["-c", `${OUT_SUM_FUNCTION}\nctk_out_sum cat "$1"; printf '%s' "$_ctks"`, "sh", path.join(dir, "in")],
          {
            env: { PATH: `${dir}:/usr/bin:/bin` },
            encoding: "utf8",
          },
        );
        return { out, ran: existsSync(path.join(dir, "log")) ? readFileSync(path.join(dir, "log"), "utf8").trim().split("\n").length : 0 };
      };
      expect(EMPTY_SHA256).toBe(sha(""));
      expect(sum("")).toEqual({ out: EMPTY_SHA256, ran: 0 });
      for (const t of ["a", "a\n", "a\n\n\n", "\n", "-A PREROUTING -j CT --notrack\n", "é ü\tx\\n %s"]) {
        expect(sum(t)).toEqual({ out: sha(t), ran: 1 });
      }
      // Whatever the command exits with, its output is what counts (as in a pipeline).
      const failing = execFileSync("/bin/sh", ["-c", `${OUT_SUM_FUNCTION}\nctk_out_sum sh -c 'printf x; exit 3'; printf '%s' "$_ctks"`], {
        encoding: "utf8",
      });
      expect(failing).toBe(sha("x"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

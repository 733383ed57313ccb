/**
 * The legacy table check (provider/transport/legacy-tables.ts), run by this machine's /bin/sh over
 * temporary files that stand for /proc/net/ip_tables_names.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LEGACY_TABLE_FUNCTION } from "../../../provider/transport/legacy-tables";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ctk-legacy-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Whether `ctk_legacy_has FILE TABLE` says yes, for FILE holding `content` (undefined: no file). */
function has(content: string | undefined, table: string): boolean {
  const f = path.join(dir, "ip_tables_names");
  if (content !== undefined) writeFileSync(f, content);
  const out = execFileSync(
    "/bin/sh",
    ["-c", `${LEGACY_TABLE_FUNCTION}\nif ctk_legacy_has "$1" "$2"; then echo yes; else echo no; fi`, "sh", f, table],
    {
      encoding: "utf8",
    },
  );
  return out === "yes\n";
}

describe("ctk_legacy_has", () => {
  it("finds a table named on a whole line, as grep -qx did", () => {
    expect(has("filter\nraw\nnat\n", "raw")).toBe(true);
    expect(has("raw\n", "raw")).toBe(true);
    // A last line without its line break still counts.
    expect(has("filter\nraw", "raw")).toBe(true);
  });

  it("does not take a part of a line for the table", () => {
    expect(has("filter\nrawx\n raw\n", "raw")).toBe(false);
    expect(has("", "raw")).toBe(false);
  });

  it("says no when the kernel has no legacy tables at all (no names file)", () => {
    expect(has(undefined, "raw")).toBe(false);
  });
});

/** One definition of a refusal for every kind, and one converter into the typed errors. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { refusalError } from "../../../provider/common/refusal";
import { ConnectionSchema } from "../../../provider/connection/schema";
import { ConflictError, UnsupportedError } from "../../../provider/errors";

const PROVIDER = path.join(__dirname, "../../../provider");
const sources = (d: string): string[] =>
  readdirSync(d).flatMap((n) => {
    const p = path.join(d, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });

describe("refusals", () => {
  it("become a ConflictError or an UnsupportedError naming host, command and what to do", () => {
    const conn = ConnectionSchema.parse({ host: "10.0.0.7", port: 2222 });
    const c = refusalError(conn, { error: "conflict", message: "in the way", command: "write /etc/x", hint: "remove it" });
    expect(c).toBeInstanceOf(ConflictError);
    expect(c.message).toContain("in the way");
    expect(c.message).toContain("10.0.0.7");
    expect(c.message).toContain("remove it");
    const u = refusalError(conn, { error: "unsupported", message: "no toggle", command: "observe", hint: "use a rule" });
    expect(u).toBeInstanceOf(UnsupportedError);
  });

  it("are defined once, in common/refusal.ts, and turned into errors only there", () => {
    for (const f of sources(PROVIDER)) {
      if (f.endsWith(path.join("common", "refusal.ts"))) continue;
      const text = readFileSync(f, "utf8");
      expect(text, f).not.toMatch(/export interface Refusal\b/);
      expect(text, f).not.toMatch(/r\.error === "conflict" \? (new )?ConflictError/);
    }
  });
});

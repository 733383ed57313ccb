import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { shJoin, shQuote } from "../../../provider/transport/quote";

const hostile = [
  "",
  "plain",
  "with space",
  "it's",
  `"double"`,
  "$(id)",
  "`id`",
  "a;b|c&d",
  "line1\nline2",
  "tab\there",
  "*?[x]",
  "~root",
  "-n",
  "\\back\\",
  "'",
  "''",
  "é ünïcode",
  "$HOME",
  "!bang",
];

describe("shQuote", () => {
  it("round-trips every argument byte for byte through a real POSIX shell", () => {
    for (const arg of hostile) {
      const out = execFileSync("sh", ["-c", `printf '%s' ${shQuote(arg)}`]);
      expect(out.toString("utf8")).toBe(arg);
    }
  });

  it("keeps argument boundaries when joined", () => {
    const line = shJoin(["printf", "%s\\0", ...hostile]);
    const out = execFileSync("sh", ["-c", line]).toString("utf8");
    expect(out.split("\0").slice(0, -1)).toEqual(hostile);
  });

  it("refuses NUL bytes and empty commands", () => {
    expect(() => shQuote("a\0b")).toThrow(/NUL/);
    expect(() => shJoin([])).toThrow(/empty/);
  });
});

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseKeyValues, parseSections, sectionStart } from "../../../provider/transport/sections";

describe("section framing", () => {
  it("splits real shell output into named sections, keeping inner blank lines", () => {
    const src = `echo noise\n${sectionStart("a")}\necho one\necho\necho two\n${sectionStart("b")}\nprintf 'x=1\\ny=a=b\\n'\n${sectionStart("empty")}`;
    const out = execFileSync("sh", ["-c", src]).toString();
    const s = parseSections(out);
    expect(s.get("a")).toBe("one\n\ntwo");
    expect(s.get("b")).toBe("x=1\ny=a=b");
    expect(s.get("empty")).toBe("");
    expect(parseKeyValues(s.get("b")!)).toEqual(
      new Map([
        ["x", "1"],
        ["y", "a=b"],
      ]),
    );
  });

  it("refuses section names that are not identifiers", () => {
    expect(() => sectionStart("a b")).toThrow();
    expect(() => sectionStart("$(x)")).toThrow();
  });
});

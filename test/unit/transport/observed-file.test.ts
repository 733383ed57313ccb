/**
 * A managed file as an observe script reports it (provider/transport/observed-file.ts): the shell's
 * `ctk_hex` over `od`'s dump, run by this machine's /bin/sh, read back by the one parser.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseKeyValues } from "../../../provider/transport/sections";
import { HEX_FUNCTION, parseObservedFile } from "../../../provider/transport/observed-file";

/** What `ctk_hex hex $(od ...)` prints for a file of these bytes. */
function hexLine(bytes: Buffer): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ctk-hex-"));
  try {
    const f = path.join(dir, "f");
    writeFileSync(f, bytes);
    return execFileSync("/bin/sh", ["-c", `${HEX_FUNCTION}\nx=$(od -An -v -tx1 < "$1") && ctk_hex hex $x`, "sh", f], { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("ctk_hex", () => {
  it("joins od's dump into one line of hex, every byte kept", () => {
    // Spaces, line breaks, a glob character, NUL and bytes that are not UTF-8, over several od lines.
    const bytes = Buffer.concat([
      Buffer.from("options nf_conntrack hashsize=1 *\n\n\t"),
      Buffer.from([0, 0xff, 0xfe, 0x80]),
      Buffer.alloc(40, 0x41),
    ]);
    const line = hexLine(bytes);
    expect(line).toBe(`hex=${bytes.toString("hex")}\n`);
    expect(Buffer.from(parseKeyValues(line).get("hex") ?? "", "hex")).toEqual(bytes);
  });

  it("prints an empty value for an empty file, which reads back as an empty file", () => {
    expect(hexLine(Buffer.alloc(0))).toBe("hex=\n");
    const kv = parseKeyValues(`kind=file\n${hexLine(Buffer.alloc(0))}mode=644\n`);
    expect(parseObservedFile(kv)).toEqual({ kind: "file", content: "", mode: "644" });
  });
});

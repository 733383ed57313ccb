import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fingerprintOf, parseHostKey } from "../../../provider/transport/hostkey";

function keygen(): { line: string; fingerprint: string } {
  const dir = mkdtempSync(join(tmpdir(), "ctk-hk-"));
  const key = join(dir, "k");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const line = readFileSync(`${key}.pub`, "utf8").trim();
  const fp = execFileSync("ssh-keygen", ["-lf", `${key}.pub`])
    .toString()
    .split(" ")[1];
  return { line, fingerprint: fp };
}

describe("host keys", () => {
  it("computes the fingerprint ssh-keygen prints", () => {
    const k = keygen();
    const blob = Buffer.from(k.line.split(" ")[1], "base64");
    expect(fingerprintOf(blob)).toBe(k.fingerprint);
    expect(parseHostKey(k.line).fingerprint).toBe(k.fingerprint);
  });

  it("accepts a fingerprint, a key line with a comment, and a known_hosts line", () => {
    const k = keygen();
    expect(parseHostKey(k.fingerprint).fingerprint).toBe(k.fingerprint);
    expect(parseHostKey(`${k.line} root@somewhere`).fingerprint).toBe(k.fingerprint);
    expect(parseHostKey(`10.0.0.1,host ${k.line}`).fingerprint).toBe(k.fingerprint);
  });

  it("refuses garbage and a key whose type and blob disagree", () => {
    const k = keygen();
    expect(() => parseHostKey("not a key")).toThrow(/hostKey/);
    expect(() => parseHostKey(`ssh-rsa ${k.line.split(" ")[1]}`)).toThrow(/hostKey/);
  });
});

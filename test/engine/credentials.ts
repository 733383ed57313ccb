import { readFileSync } from "node:fs";
import type { LogLine } from "./engine";

/** A credential to search for, and what to call it in a failure message (never the value). */
export interface Needle {
  what: string;
  value: string;
}

/**
 * What would show that a credential leaked in plain text: every base64 line of the private key's
 * body (a key in JSON has its newlines escaped, so lines are searched, not the whole text) and the
 * password.
 */
export function credentialNeedles(privateKeyPath: string, password?: string): Needle[] {
  const body = readFileSync(privateKeyPath, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith("-----"));
  if (body.length === 0) throw new Error(`${privateKeyPath}: no key body to search for`);
  const out = body.map((value, i) => ({ what: `private key (line ${i + 2})`, value }));
  return password ? [...out, { what: "password", value: password }] : out;
}

/** Which credentials occur in `text`, as `<where>: <what> in plain text`. */
export function leaksIn(text: string, needles: readonly Needle[], where: string): string[] {
  return needles.filter((n) => text.includes(n.value)).map((n) => `${where}: ${n.what} in plain text`);
}

/** {@link leaksIn} over log lines. */
export function leaksInLogs(logs: readonly LogLine[], needles: readonly Needle[], where: string): string[] {
  return leaksIn(logs.map((l) => `${l.source}: ${l.line}`).join("\n"), needles, where);
}

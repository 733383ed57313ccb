import { createHash } from "node:crypto";

/** `SHA256:<base64, unpadded>`: the fingerprint `ssh-keygen -lf` prints for a raw public key blob. */
export function fingerprintOf(keyBlob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

/**
 * Parses the `hostKey` input into something a presented key can be checked against. Accepted: an
 * OpenSSH public key line (`ssh-ed25519 AAAA... [comment]`, also a known_hosts line with host names
 * in front) or a `SHA256:` fingerprint.
 */
export function parseHostKey(input: string): { fingerprint: string } {
  const text = input.trim();
  if (/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(text)) return { fingerprint: text.replace(/=$/, "") };
  const fields = text.split(/\s+/);
  for (let i = 0; i + 1 < fields.length; i++) {
    if (/^(ssh-|ecdsa-|sk-)/.test(fields[i]) && /^[A-Za-z0-9+/]+={0,2}$/.test(fields[i + 1])) {
      const blob = Buffer.from(fields[i + 1], "base64");
      // The blob starts with its own key type: a line whose type and blob disagree is a typo.
      const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
      if (typeLen > 0 && blob.subarray(4, 4 + typeLen).toString() === fields[i]) {
        return { fingerprint: fingerprintOf(blob) };
      }
    }
  }
  throw new TypeError('hostKey must be an OpenSSH public key line ("ssh-ed25519 AAAA...") or a SHA256: fingerprint');
}

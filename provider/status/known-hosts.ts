import { createHmac } from "node:crypto";
import { parseHostKey } from "../transport/hostkey";

/** One key line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number. */
  line: number;
  /** `@revoked` / `@cert-authority` marker, or null. */
  marker: "revoked" | "cert-authority" | null;
  /** The host field as written (patterns, or a `|1|salt|hash` hashed name). */
  hosts: string;
  /** `ssh-ed25519 AAAA...` (type and base64). */
  key: string;
  /** `SHA256:...` of the key. */
  fingerprint: string;
}

/**
 * Parses a known_hosts file as OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): comments
 * and blank lines skipped, an optional `@revoked`/`@cert-authority` marker, host field, key type,
 * base64 key, comment. Lines whose key cannot be parsed are skipped, as ssh skips them. Pure.
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const l = raw.trim();
    if (l === "" || l.startsWith("#")) return;
    let fields = l.split(/\s+/);
    let marker: KnownHostEntry["marker"] = null;
    if (fields[0].startsWith("@")) {
      if (fields[0] === "@revoked") marker = "revoked";
      else if (fields[0] === "@cert-authority") marker = "cert-authority";
      else return;
      fields = fields.slice(1);
    }
    if (fields.length < 3) return;
    const key = `${fields[1]} ${fields[2]}`;
    try {
      out.push({ line: i + 1, marker, hosts: fields[0], key, fingerprint: parseHostKey(key).fingerprint });
    } catch {
      // A key ssh could not parse either.
    }
  });
  return out;
}

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise (as ssh writes it). */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

/** OpenSSH's `match_pattern`: `*` any run of characters, `?` one character; case-insensitive for host names. */
function globMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return re.test(name);
}

/**
 * Whether a known_hosts host field names `name` (from {@link knownHostName}): a hashed entry
 * (`|1|base64 salt|base64 HMAC-SHA1(salt, name)`) compares the HMAC; otherwise a comma-separated
 * list of patterns where a negated pattern (`!pat`) that matches excludes the line. Pure.
 */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  let positive = false;
  for (const p of field.split(",")) {
    if (p.startsWith("!")) {
      if (globMatches(p.slice(1), name)) return false;
    } else if (globMatches(p, name)) positive = true;
  }
  return positive;
}

/** The keys known for a host, and the revoked keys that apply to it. */
export interface KnownKeys {
  keys: KnownHostEntry[];
  revoked: KnownHostEntry[];
  /** `@cert-authority` lines for the host: host certificates are not supported here. */
  certAuthorities: KnownHostEntry[];
}

/** Looks a host up in parsed known_hosts entries. Pure. */
export function lookupHost(entries: readonly KnownHostEntry[], host: string, port: number): KnownKeys {
  const name = knownHostName(host, port);
  const out: KnownKeys = { keys: [], revoked: [], certAuthorities: [] };
  for (const e of entries) {
    if (e.marker === "revoked") {
      // A revoked key is revoked for every host (the host field is not consulted for @revoked).
      out.revoked.push(e);
      continue;
    }
    if (!hostFieldMatches(e.hosts, name)) continue;
    if (e.marker === "cert-authority") out.certAuthorities.push(e);
    else out.keys.push(e);
  }
  return out;
}

/** The line that records a key accepted on first use (plain host name, as `ssh` writes with HashKnownHosts off). */
export function knownHostsLine(host: string, port: number, key: string): string {
  const [type, blob] = key.trim().split(/\s+/);
  return `${knownHostName(host, port)} ${type} ${blob}\n`;
}

/** Key types in the order ssh2 offers them to the server, so that the first known key tried is the one most likely presented. */
const PREFERENCE = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** Known keys sorted by that preference (unknown types last). Pure. */
export function byPreference(keys: readonly KnownHostEntry[]): KnownHostEntry[] {
  const rank = (e: KnownHostEntry) => {
    const t = e.key.split(" ")[0];
    const i = PREFERENCE.indexOf(t === "ssh-rsa" ? "rsa-sha2-512" : t);
    return i < 0 ? PREFERENCE.length : i;
  };
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

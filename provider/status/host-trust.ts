/**
 * Whether `pulumi-conntrack status` trusts a host's key, decided as OpenSSH decides it from
 * known_hosts (revoked keys, several keys per host, trust on first use only when asked). Pure: the
 * connections, the probe and the append to known_hosts are in `cli.ts`.
 */
import { byPreference, knownHostsLine, type KnownKeys } from "./known-hosts";

/** Where the decision stands: the host, how OpenSSH names it, and the known_hosts file. */
export interface TrustContext {
  host: string;
  port: number;
  /** `host`, or `[host]:port` off port 22, as OpenSSH names it in messages and `ssh-keygen -R`. */
  label: string;
  /** The known_hosts file. */
  file: string;
  known: KnownKeys;
}

/** What to do next: connect pinned to a key, refuse with a message, or probe the key the host presents. */
export type TrustStep = { kind: "connect"; hostKey: string } | { kind: "refuse"; message: string } | { kind: "probe" };

/** How OpenSSH names a host in messages: `host`, or `[host]:port` off port 22. */
export function trustLabel(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function revokedSet(known: KnownKeys): Set<string> {
  return new Set(known.revoked.map((e) => e.fingerprint));
}

function candidates(known: KnownKeys): string[] {
  const revoked = revokedSet(known);
  return byPreference(known.keys)
    .filter((e) => !revoked.has(e.fingerprint))
    .map((e) => e.fingerprint);
}

function revokedMessage(c: TrustContext, fingerprint: string): string {
  return `the host key ${fingerprint} of ${c.label} is marked @revoked in ${c.file}: refused`;
}

/** The first step: connect pinned to the preferred known key; refuse when every one is revoked or only a CA is known; else probe. */
export function firstStep(c: TrustContext): TrustStep {
  const keys = candidates(c.known);
  if (keys.length > 0) return { kind: "connect", hostKey: keys[0] };
  if (c.known.keys.length > 0) return { kind: "refuse", message: `every key known for ${c.label} in ${c.file} is @revoked: refused` };
  if (c.known.certAuthorities.length > 0)
    return {
      kind: "refuse",
      message: `${c.file} trusts ${c.label} only through @cert-authority; host certificates are not supported by this command: add the host's key`,
    };
  return { kind: "probe" };
}

/**
 * The host presented `observed` instead of the preferred known key: refuse a revoked key, connect
 * pinned to another known one (a host with several keys negotiated that one), refuse any other.
 */
export function afterMismatch(c: TrustContext, observed: string): Exclude<TrustStep, { kind: "probe" }> {
  if (revokedSet(c.known).has(observed)) return { kind: "refuse", message: revokedMessage(c, observed) };
  if (candidates(c.known).includes(observed)) return { kind: "connect", hostKey: observed };
  const lines = c.known.keys.map((k) => `${k.key.split(" ")[0]} ${k.fingerprint} (line ${k.line})`).join(", ");
  return {
    kind: "refuse",
    message: `HOST KEY OF ${c.label} HAS CHANGED: it presented ${observed}, ${c.file} has ${lines}. Someone could be intercepting the connection, or the host was reinstalled; check, then remove the old entry (ssh-keygen -R ${c.label} -f ${c.file})`,
  };
}

/** What trust on first use records: the known_hosts line to append, and the note for the operator. */
export interface Acceptance {
  kind: "accept";
  hostKey: string;
  line: string;
  note: string;
}

/**
 * An unknown host presented `presented`: refuse a revoked key, refuse unless `acceptNew` (with how to
 * add it), else accept it as OpenSSH's StrictHostKeyChecking=accept-new does.
 */
export function afterProbe(
  c: TrustContext,
  presented: { fingerprint: string; key: string },
  acceptNew: boolean,
): { kind: "refuse"; message: string } | Acceptance {
  if (revokedSet(c.known).has(presented.fingerprint)) return { kind: "refuse", message: revokedMessage(c, presented.fingerprint) };
  if (!acceptNew)
    return {
      kind: "refuse",
      message: `${c.label} is not in ${c.file} (it presents ${presented.fingerprint}); verify the key, then add it (ssh-keyscan) or run again with --accept-new to trust it on first use`,
    };
  return {
    kind: "accept",
    hostKey: presented.fingerprint,
    line: knownHostsLine(c.host, c.port, presented.key),
    note: `${c.label}: accepted new host key ${presented.fingerprint} and added it to ${c.file}`,
  };
}

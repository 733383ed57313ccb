/**
 * The lockout guard. Untracked packets are in state UNTRACKED, so on a host whose filter table
 * accepts only ESTABLISHED,RELATED a NOTRACK rule that matches the SSH session the provider manages
 * the host through cuts that session off, and with it every later fix. Such a rule is refused
 * unless the program says `allowManagementTraffic: true`.
 */
import type { SshSession } from "./observed";
import { cidrContains, parseAddress, parseCidr } from "../syntax/address";
import { portOverlaps } from "../syntax/ports";
import { type RuleSpec } from "../syntax/rule";

/** Parses `$SSH_CONNECTION` (`client_ip client_port server_ip server_port`). */
export function parseSshConnection(text: string): SshSession | undefined {
  const w = text.trim().split(/\s+/);
  if (w.length !== 4) return undefined;
  const [clientAddress, cp, serverAddress, sp] = w;
  const clientPort = Number(cp);
  const serverPort = Number(sp);
  if (!parseAddress(stripZone(clientAddress)) || !parseAddress(stripZone(serverAddress))) return undefined;
  if (!Number.isInteger(clientPort) || !Number.isInteger(serverPort)) return undefined;
  return { clientAddress: stripZone(clientAddress), clientPort, serverAddress: stripZone(serverAddress), serverPort };
}

function stripZone(a: string): string {
  const i = a.indexOf("%");
  return i < 0 ? a : a.slice(0, i);
}

/** Ports an SSH client's end of the session may use: every OS picks ephemeral ports above 1023. */
const CLIENT_PORTS: [number, number] = [1024, 65535];

/** One end of the session: an address (unknown when only a host name is known) and ports. */
interface End {
  address?: string;
  ports: [number, number];
}

/** What the rule must leave alone: the session's packets in each direction. */
interface Endpoints {
  server: End;
  client: End;
}

function addressMayMatch(block: string | undefined, end: End, family: RuleSpec["family"]): boolean {
  if (block === undefined) return true;
  if (end.address === undefined) return true;
  const a = parseAddress(end.address);
  const c = parseCidr(block);
  if (!a || !c) return true;
  // An IPv4-mapped or other-family address never meets a rule of this family.
  if (a.family !== family) return false;
  return cidrContains(c, a.family, a.value);
}

function portMayMatch(match: RuleSpec["sourcePort"], end: End): boolean {
  return match === undefined || portOverlaps(match, end.ports[0], end.ports[1]);
}

function mayMatch(spec: RuleSpec, e: Endpoints): boolean {
  if (spec.protocol !== "tcp" && spec.protocol !== "all") return false;
  if (e.server.address !== undefined) {
    const a = parseAddress(e.server.address);
    if (a && a.family !== spec.family) return false;
  }
  // PREROUTING sees client -> server packets, OUTPUT server -> client.
  const [src, dst] = spec.chain === "PREROUTING" ? [e.client, e.server] : [e.server, e.client];
  return (
    addressMayMatch(spec.source, src, spec.family) &&
    addressMayMatch(spec.destination, dst, spec.family) &&
    portMayMatch(spec.sourcePort, src) &&
    portMayMatch(spec.destinationPort, dst)
  );
}

/** The input that lets the rule reach the session, to name in the refusal. */
function culprit(spec: RuleSpec): "destinationPort" | "sourcePort" | "protocol" {
  const serverSide = spec.chain === "PREROUTING" ? "destinationPort" : "sourcePort";
  const clientSide = serverSide === "destinationPort" ? "sourcePort" : "destinationPort";
  if (spec[serverSide] !== undefined) return serverSide;
  if (spec[clientSide] !== undefined) return clientSide;
  return "protocol";
}

/** A refusal: the input to name and why. */
export interface LockoutFinding {
  property: "destinationPort" | "sourcePort" | "protocol";
  reason: string;
}

/**
 * Checks a rule against the management connection as the program gives it (`host`, `port`): no
 * host needed, so `check` can refuse. A host name (not an address) is assumed to be any address.
 */
export function lockoutFromInputs(spec: RuleSpec, conn: { host: string; port: number; user?: string }): LockoutFinding | undefined {
  const address = parseAddress(stripZone(conn.host)) ? stripZone(conn.host) : undefined;
  const e: Endpoints = { server: { address, ports: [conn.port, conn.port] }, client: { ports: CLIENT_PORTS } };
  if (!mayMatch(spec, e)) return undefined;
  return finding(spec, `SSH to ${conn.host} port ${conn.port}`);
}

/**
 * Checks a rule against the session as the host sees it, which also covers what the inputs cannot
 * show (NAT or a port forward in front of the host, a bastion).
 */
export function lockoutFromSession(spec: RuleSpec, s: SshSession): LockoutFinding | undefined {
  const e: Endpoints = {
    server: { address: s.serverAddress, ports: [s.serverPort, s.serverPort] },
    client: { address: s.clientAddress, ports: [s.clientPort, s.clientPort] },
  };
  if (!mayMatch(spec, e)) return undefined;
  return finding(spec, `the SSH session ${s.clientAddress}:${s.clientPort} -> ${s.serverAddress}:${s.serverPort}`);
}

function finding(spec: RuleSpec, what: string): LockoutFinding {
  return {
    property: culprit(spec),
    reason:
      `this rule could match ${what} that the provider manages the host through (tcp in ${spec.chain}); ` +
      "untracked packets are dropped by a filter table that accepts only ESTABLISHED,RELATED, which would cut the session off. " +
      "Narrow the rule (ports, addresses) or set allowManagementTraffic: true if the host's filter rules accept untracked SSH traffic",
  };
}

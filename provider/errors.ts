/**
 * Typed errors. Each names the host and the command, says what to do next, and keeps its cause, so
 * that an operator reading `pulumi up` output on resource 300 of 500 knows where and why.
 */

/** Fields every conntrack error carries. */
export interface ConntrackErrorDetails {
  /** `user@host:port` of the host concerned, when there is one. */
  host?: string;
  /** The remote command or operation, as a person would read it. */
  command?: string;
  /** What the operator can do next. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
}

/** Base class of every error this package throws on purpose. */
export class ConntrackError extends Error {
  /** `user@host:port` of the host concerned. */
  readonly host?: string;
  /** The remote command or operation. */
  readonly command?: string;
  /** What to do next. */
  readonly hint?: string;

  constructor(message: string, details: ConntrackErrorDetails = {}) {
    super(composeMessage(message, details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.host = details.host;
    this.command = details.command;
    this.hint = details.hint;
  }
}

function composeMessage(message: string, d: ConntrackErrorDetails): string {
  const parts = [d.host ? `${d.host}: ${message}` : message];
  if (d.command) parts.push(`command: ${d.command}`);
  if (d.hint) parts.push(`next: ${d.hint}`);
  return parts.join("\n  ");
}

/** The host refused every credential offered. Not retried: trying again cannot help. */
export class AuthenticationError extends ConntrackError {}

/** No SSH handshake within `perDialTimeout` seconds, `dialErrorLimit` times over. */
export class DialTimeoutError extends ConntrackError {}

/** The address could not be resolved or reached (refused, no route, DNS failure). */
export class UnreachableError extends ConntrackError {}

/** The host presented a key other than the `hostKey` input. Not retried. */
export class HostKeyMismatchError extends ConntrackError {
  /** The fingerprint the host presented. */
  readonly observed: string;
  constructor(message: string, observed: string, details: ConntrackErrorDetails = {}) {
    super(message, details);
    this.observed = observed;
  }
}

/** A remote command ran and exited non-zero (or was killed). */
export class RemoteCommandError extends ConntrackError {
  /** Exit code; null when the command was killed by a signal or the channel closed early. */
  readonly exitCode: number | null;
  /** What the command wrote to stderr. */
  readonly stderr: string;
  /** What the command wrote to stdout. */
  readonly stdout: string;
  constructor(message: string, r: { exitCode: number | null; stderr: string; stdout: string }, details: ConntrackErrorDetails = {}) {
    super(message, details);
    this.exitCode = r.exitCode;
    this.stderr = r.stderr;
    this.stdout = r.stdout;
  }
}

/** The connection broke, or a channel could not be opened, while a command was in flight. */
export class TransportError extends ConntrackError {}

/** Inputs that cannot be acted on (e.g. a `getConntrackStatus` connection that does not validate). */
export class InputError extends ConntrackError {
  /** The offending input property, dotted (`connection.port`). */
  readonly property: string;
  constructor(property: string, reason: string, details: ConntrackErrorDetails = {}) {
    super(`${property}: ${reason}`, details);
    this.property = property;
  }
}

/** The host cannot do what the inputs ask (kernel too old, toggle removed, module built in...). */
export class UnsupportedError extends ConntrackError {}

/** The change would conflict with another managed resource or could cut off management access. */
export class ConflictError extends ConntrackError {}

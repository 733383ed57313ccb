import { hostLabel, type Connection } from "../connection/schema";
import { ConflictError, UnsupportedError, type ConntrackError } from "../errors";

/**
 * Why the program cannot be carried out on a host, as data: every kind's planner returns it (never
 * throws it), so that preview, diff and tests see a refusal like any other decision; nothing is
 * changed on the host. {@link refusalError} is the one place it becomes an error.
 */
export interface Refusal {
  /** `unsupported`: the host (kernel, tools) cannot do it; `conflict`: something else is in the way. */
  error: "unsupported" | "conflict";
  message: string;
  /** What the operator can do. */
  hint: string;
  /** The operation, as a person reads it. */
  command: string;
}

/** The typed error for a refusal on the host of `conn`: {@link ConflictError} or {@link UnsupportedError}. */
export function refusalError(conn: Connection, r: Refusal): ConntrackError {
  const details = { host: hostLabel(conn), command: r.command, hint: r.hint };
  return r.error === "conflict" ? new ConflictError(r.message, details) : new UnsupportedError(r.message, details);
}

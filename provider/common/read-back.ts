import { hostLabel, type Connection } from "../connection/schema";
import { ConntrackError } from "../errors";

/**
 * The error for an apply whose read-back (the observation the apply script ends with) contradicts
 * what it just wrote: something on the host rewrote it at once. `wrong` says what reads otherwise;
 * `rewriters` names what typically rewrites this kind's values, for the hint.
 */
export function readBackError(conn: Connection, command: string, wrong: readonly string[], rewriters: string): ConntrackError {
  return new ConntrackError(`the host does not show what was written: ${wrong.join("; ")}`, {
    host: hostLabel(conn),
    command,
    hint: `something on the host rewrites the value (${rewriters}); find and stop it, then run again`,
  });
}

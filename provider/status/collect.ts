import { ConnectionSchema, type Connection, type ConnectionInput } from "../connection/schema";
import { InputError } from "../errors";
import { commandFailed, exec, script } from "../transport/exec";
import { EXIT } from "../transport/exit-codes";
import { parseStatus, type HostStatus } from "./parse";
import { STATUS_SCRIPT } from "./script";

/** Reads one host's conntrack status: one command on the host's pooled connection. */
export async function readHostStatus(conn: Connection): Promise<HostStatus> {
  const argv = script(STATUS_SCRIPT);
  const label = "read conntrack status (count/max, conntrack -S or /proc/net/stat/nf_conntrack, NOTRACK counters)";
  const r = await exec(conn, argv, { label, timeoutMs: 60_000 });
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, { label, hint: "check that the user is root or has passwordless sudo (sudo: true)" });
  return parseStatus(r.stdout);
}

/** Validates a connection the way resources do (defaults applied), naming what is wrong. */
export function parseConnection(input: ConnectionInput): Connection {
  const r = ConnectionSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InputError(`connection.${issue.path.join(".")}`, issue.message);
  }
  return r.data;
}

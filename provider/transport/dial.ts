import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { hostLabel, type Connection, type ProxyEndpoint } from "../connection/schema";
import { AuthenticationError, type ConntrackError, DialTimeoutError, HostKeyMismatchError, UnreachableError } from "../errors";
import { fingerprintOf, parseHostKey } from "./hostkey";

/** An open SSH session, with the bastion it runs through when there is one. */
export interface Dialed {
  client: Client;
  bastion?: Client;
  /** Fingerprint of the key the host presented (`SHA256:...`). */
  fingerprint: string;
}

/** Connections dialled by this process (see `execStats`). */
export const dialStats = { dials: 0 };

const FAST_FAILURE_BACKOFF_MS = [200, 400, 800, 1600, 3000];
const UNBOUNDED_MS = 2_147_483_647;

/**
 * Dials with `@pulumi/command`'s retry semantics: at most `dialErrorLimit` failed attempts (-1:
 * unlimited), each bounded by `perDialTimeout` seconds (0: unbounded). The whole dial never takes
 * longer than the two multiplied: backoff after fast failures (refused, no route) comes out of that
 * budget, and failures that retrying cannot fix (authentication, host key) end it at once.
 */
export async function dial(conn: Connection): Promise<Dialed> {
  dialStats.dials++;
  const label = hostLabel(conn);
  if (conn.proxy) {
    const bastion = await dialWithRetries(conn.proxy, hostLabel(conn.proxy), (ep) => attempt(ep));
    try {
      const target = await dialWithRetries(conn, label, (ep) =>
        forward(bastion.client, ep.host, ep.port).then((sock) => attempt(ep, sock)),
      );
      return { ...target, bastion: bastion.client };
    } catch (e) {
      bastion.client.end();
      throw e;
    }
  }
  return dialWithRetries(conn, label, (ep) => attempt(ep));
}

type Endpoint = Connection | ProxyEndpoint;

async function dialWithRetries(ep: Endpoint, label: string, once: (ep: Endpoint) => Promise<Dialed>): Promise<Dialed> {
  const limit = ep.dialErrorLimit < 0 ? Infinity : Math.max(1, ep.dialErrorLimit);
  const perDialMs = ep.perDialTimeout === 0 ? UNBOUNDED_MS : ep.perDialTimeout * 1000;
  const deadline = ep.perDialTimeout === 0 || limit === Infinity ? Infinity : Date.now() + perDialMs * limit;
  let failures = 0;
  let last: AttemptFailure | undefined;
  for (;;) {
    const remaining = deadline - Date.now();
    if (failures >= limit || remaining <= 0) break;
    try {
      return await once({ ...ep, perDialTimeout: Math.min(perDialMs, remaining) / 1000 });
    } catch (e) {
      const f = classify(e, label);
      if (f.final) throw f.error;
      failures++;
      last = f;
      if (!f.timedOut && failures < limit) {
        const wait = Math.min(FAST_FAILURE_BACKOFF_MS[Math.min(failures - 1, FAST_FAILURE_BACKOFF_MS.length - 1)], deadline - Date.now());
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
  const attempts = `${failures} attempt${failures === 1 ? "" : "s"}`;
  if (!last || last.timedOut) {
    throw new DialTimeoutError(`no SSH handshake after ${attempts} of at most ${ep.perDialTimeout}s each`, {
      host: label,
      command: "ssh connect",
      hint: "check that the host is up, that sshd listens on the port, and that no firewall drops the traffic; raise perDialTimeout/dialErrorLimit for slow links",
      cause: last?.error,
    });
  }
  throw new UnreachableError(`${last.error.message.split("\n")[0].replace(/^.*?: /, "")} (after ${attempts})`, {
    host: label,
    command: "ssh connect",
    hint: "check the address, DNS name and port in the connection input, and that sshd runs on the host",
    cause: last.error,
  });
}

interface AttemptFailure {
  error: ConntrackError;
  final: boolean;
  timedOut: boolean;
}

function classify(e: unknown, label: string): AttemptFailure {
  if (e instanceof HostKeyMismatchError || e instanceof AuthenticationError) return { error: e, final: true, timedOut: false };
  const err = e as Error & { level?: string; code?: string };
  if (err.level === "client-authentication") {
    return {
      final: true,
      timedOut: false,
      error: new AuthenticationError("authentication failed: the host accepted none of the credentials offered", {
        host: label,
        command: "ssh connect",
        hint: "check user, privateKey/privateKeyPassword, password or agentSocketPath, and the host's authorized_keys",
        cause: e,
      }),
    };
  }
  const timedOut = err.level === "client-timeout" || /timed out/i.test(err.message ?? "");
  const reason = err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" ? `cannot resolve host name (${err.code})` : err.message;
  return {
    final: false,
    timedOut,
    error: new UnreachableError(reason ?? String(e), { host: label, command: "ssh connect", cause: e }),
  };
}

function attempt(ep: Endpoint, sock?: ClientChannel): Promise<Dialed> {
  const label = hostLabel(ep);
  const expected = ep.hostKey ? parseHostKey(ep.hostKey).fingerprint : undefined;
  return new Promise<Dialed>((resolve, reject) => {
    // Loaded on the first dial, not with the provider: a preview or an unchanged `up` (Check and
    // Diff only) never connects, and ssh2 is a good part of the provider's start-up time.
    const { Client: SshClient } = require("ssh2") as typeof import("ssh2");
    const client = new SshClient();
    let fingerprint = "";
    let mismatch: HostKeyMismatchError | undefined;
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (err) {
        client.removeAllListeners("ready");
        client.on("error", () => undefined);
        client.end();
        reject(mismatch ?? err);
      } else {
        resolve({ client, fingerprint });
      }
    };
    client.once("ready", () => finish());
    client.on("error", (err) => finish(err));
    client.once("close", () => finish(new Error("connection closed during handshake")));
    const config: ConnectConfig = {
      host: ep.host,
      port: ep.port,
      username: ep.user,
      readyTimeout: ep.perDialTimeout === 0 ? UNBOUNDED_MS : Math.max(1, Math.round(ep.perDialTimeout * 1000)),
      hostVerifier: (key: Buffer) => {
        fingerprint = fingerprintOf(key);
        if (expected && expected !== fingerprint) {
          mismatch = new HostKeyMismatchError(`host key mismatch: expected ${expected}, the host presented ${fingerprint}`, fingerprint, {
            host: label,
            command: "ssh connect",
            hint: "if the host was reinstalled on purpose, update the hostKey input; otherwise treat it as a possible man-in-the-middle and do not connect",
          });
          return false;
        }
        return true;
      },
    };
    if (sock) config.sock = sock;
    if (ep.password !== undefined) config.password = ep.password;
    if (ep.privateKey !== undefined) config.privateKey = ep.privateKey;
    if (ep.privateKeyPassword !== undefined) config.passphrase = ep.privateKeyPassword;
    const agent = ep.agentSocketPath ?? process.env.SSH_AUTH_SOCK;
    if (agent) config.agent = agent;
    try {
      client.connect(config);
      // ssh2 leaves Nagle's algorithm on. The handshake (key exchange, NEWKEYS, service request,
      // authentication) and then each channel's requests (open, exec, EOF) are small messages each
      // sent whole, and with Nagle each waits for the host's delayed ACK of the one before: measured
      // on the lab, a handshake took about 260 ms with it on until ready and about 90 ms with it off
      // from the start, for the same CPU; a command on an open connection 100 ms against 15. On the
      // engine's path one host's handshake follows another's, so the wait adds up over a fleet.
      // Set right after connect(), which creates the socket; applied when it connects. (A
      // bastion-forwarded stream has no socket option: a no-op there.)
      client.setNoDelay(true);
    } catch (e) {
      // ssh2 throws synchronously for a malformed key or passphrase: nothing to retry.
      finish(
        new AuthenticationError(`cannot use the private key: ${(e as Error).message}`, {
          host: label,
          command: "ssh connect",
          hint: "privateKey must be the key's text (PEM or OpenSSH format); give privateKeyPassword for an encrypted key",
          cause: e,
        }),
      );
    }
  });
}

function forward(bastion: Client, host: string, port: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    bastion.forwardOut("127.0.0.1", 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

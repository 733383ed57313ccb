import { createHash } from "node:crypto";
import type { Client } from "ssh2";
import { endpointKey, hostLabel, type Connection } from "../connection/schema";
import { TransportError } from "../errors";
import { dial, type Dialed } from "./dial";

/**
 * Channels one connection runs at once. OpenSSH's default `MaxSessions` is 10; staying below it
 * leaves room for an operator's own session multiplexed on the same account.
 */
export const DEFAULT_MAX_CHANNELS = 8;
/**
 * A connection with no channel open for this long is closed; 0 (the default) keeps it for the life
 * of the process. The provider process lives for one `pulumi` command, and the engine's steps on one
 * host can be seconds apart (`--parallel` lets only a few run at once), so an idle timeout in the
 * middle of an `up` only costs a second handshake. Idle connections never keep the process alive.
 */
export const DEFAULT_IDLE_MS = 0;

/** Pool tuning; tests and benchmarks may change it. */
export const poolSettings = {
  maxChannels: Number(process.env.CONNTRACK_SSH_MAX_CHANNELS) || DEFAULT_MAX_CHANNELS,
  idleMs: Number(process.env.CONNTRACK_SSH_IDLE_MS) || DEFAULT_IDLE_MS,
};

/**
 * One SSH connection shared by every resource on a host. A fleet of resources on one host must not
 * open one connection each: stock sshd (`MaxStartups 10:30:100`) starts refusing unauthenticated
 * connections beyond ten.
 */
class Pooled {
  active = 0;
  limit = poolSettings.maxChannels;
  closed = false;
  dials = 1;
  private waiters: Array<() => void> = [];
  private idleTimer?: NodeJS.Timeout;

  constructor(
    readonly key: string,
    readonly dialed: Dialed,
  ) {
    const onGone = () => {
      this.closed = true;
      if (pool.get(key)?.value === this) pool.delete(key);
      for (const w of this.waiters.splice(0)) w();
    };
    dialed.client.on("close", onGone);
    dialed.client.on("error", () => undefined);
    dialed.bastion?.on("close", () => dialed.client.end());
    this.markIdle();
  }

  get client(): Client {
    return this.dialed.client;
  }

  async acquire(): Promise<void> {
    while (!this.closed && this.active >= this.limit) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.closed) throw new Error("connection closed");
    this.active++;
    this.markBusy();
  }

  release(): void {
    this.active--;
    this.waiters.shift()?.();
    if (this.active === 0 && this.waiters.length === 0) this.markIdle();
  }

  /** The server refused a channel (a `MaxSessions` lower than ours): run fewer at once from now on. */
  shrink(): void {
    this.limit = Math.max(1, Math.min(this.limit, this.active) - 1);
  }

  private markBusy(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    for (const s of this.sockets()) s.ref?.();
  }

  private markIdle(): void {
    // An idle connection must never keep the provider or a test process alive.
    for (const s of this.sockets()) s.unref?.();
    if (poolSettings.idleMs <= 0) return;
    this.idleTimer = setTimeout(() => this.close(), poolSettings.idleMs);
    this.idleTimer.unref();
  }

  private sockets(): Array<{ ref?: () => void; unref?: () => void }> {
    const out = [];
    for (const c of [this.dialed.client, this.dialed.bastion]) {
      const sock = (c as unknown as { _sock?: { ref?: () => void; unref?: () => void } } | undefined)?._sock;
      if (sock) out.push(sock);
    }
    return out;
  }

  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.closed = true;
    if (pool.get(this.key)?.value === this) pool.delete(this.key);
    this.dialed.client.end();
    this.dialed.bastion?.end();
  }
}

interface Slot {
  promise: Promise<Pooled>;
  value?: Pooled;
}

const pool = new Map<string, Slot>();

/**
 * The complete identity of a connection: endpoint, bastion, credentials and pinned host key
 * (secrets hashed, never kept in clear). Whatever shares work over one connection (the pool, a
 * NotrackRule batch) must share this key, so a member with another key or host key never rides on
 * a session it could not open itself.
 */
export function poolKey(conn: Connection): string {
  const secret = createHash("sha256")
    .update(JSON.stringify([conn.password, conn.privateKey, conn.privateKeyPassword, conn.agentSocketPath, conn.hostKey, conn.proxy]))
    .digest("hex");
  return `${endpointKey(conn)}#${secret}`;
}

/**
 * The identity a batch of remote work runs under: the pooled connection's (credentials and pinned
 * host key included) and whether commands run through sudo. Work of two requests is shared only
 * when this is equal, so a request whose key is not authorised never rides on another's session.
 */
export function connectionIdentity(conn: Connection): string {
  return JSON.stringify([poolKey(conn), conn.sudo === true]);
}

async function connection(conn: Connection): Promise<Pooled> {
  const key = poolKey(conn);
  const existing = pool.get(key);
  if (existing) {
    const p = await existing.promise;
    if (!p.closed) return p;
  }
  const slot: Slot = { promise: dial(conn).then((d) => (slot.value = new Pooled(key, d))) };
  pool.set(key, slot);
  slot.promise.catch(() => {
    if (pool.get(key) === slot) pool.delete(key);
  });
  return slot.promise;
}

/**
 * Runs `fn` with a channel slot on the host's shared connection: dials on first use, queues when
 * the connection already has its maximum of channels open, and redials once when the connection
 * dropped between uses.
 */
export async function withChannel<T>(conn: Connection, fn: (client: Client) => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    const p = await connection(conn);
    try {
      await p.acquire();
    } catch (e) {
      if (tries < 2) continue;
      throw new TransportError("the SSH connection closed before a command could start", { host: hostLabel(conn), cause: e });
    }
    try {
      return await fn(p.client);
    } catch (e) {
      if (isChannelRefusal(e) && tries < 5) {
        p.shrink();
        continue;
      }
      if (p.closed && isNotStarted(e) && tries < 2) continue;
      throw e;
    } finally {
      p.release();
    }
  }
}

/** Errors from `client.exec` before the remote command started, which are safe to retry. */
export class ChannelOpenError extends Error {
  constructor(
    message: string,
    readonly refused: boolean,
  ) {
    super(message);
  }
}

function isChannelRefusal(e: unknown): boolean {
  return e instanceof ChannelOpenError && e.refused;
}

function isNotStarted(e: unknown): boolean {
  return e instanceof ChannelOpenError;
}

/**
 * Opens the pooled connection for `conn` now, if there is none, and never fails: a dial that fails
 * leaves nothing behind, so the command that needs the host dials again and reports it.
 */
export function preconnect(conn: Connection): Promise<void> {
  return connection(conn).then(
    () => undefined,
    () => undefined,
  );
}

/** Fingerprint of the key the host presented on the pooled connection (dials when needed). */
export async function hostFingerprint(conn: Connection): Promise<string> {
  return (await connection(conn)).dialed.fingerprint;
}

/** Number of live pooled connections; for tests and benchmarks. */
export function poolSize(): number {
  return pool.size;
}

/** Closes every pooled connection (tests, and a program that wants to exit at once). */
export async function closeAll(): Promise<void> {
  const slots = [...pool.values()];
  pool.clear();
  await Promise.all(
    slots.map((s) =>
      s.promise.then(
        (p) => p.close(),
        () => undefined,
      ),
    ),
  );
}

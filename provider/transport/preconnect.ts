/**
 * Connections opened ahead of need in a `pulumi up`. The engine starts a host's steps only when
 * earlier steps free a slot of `--parallel`, so each host's SSH handshake (key exchange and host-key
 * check, tens to hundreds of milliseconds of CPU on both ends) would sit on the path of its first
 * step, one host after another. The engine checks every resource before it runs any step, so by
 * the first step that changes something the provider already knows which hosts the operation will
 * change: those it creates on (Check without a stored state) and those whose inputs changed (Diff).
 * From that first change on, their connections are opened in the background, a few at a time, in
 * the order the engine checked them, into the pool every later command uses.
 *
 * What keeps it right:
 * - Nothing is opened before the engine asks for a change: a `preview` or an `up` with nothing to
 *   change (Check and Diff only) touches no host, and a host whose resources do not change is never
 *   noted. Check and Diff only note; connections open on a call that changes something (a Create,
 *   Update or Delete whose inputs are valid).
 * - An opened connection is the pool's (`pool.ts`): the same one, keyed by the complete connection
 *   identity, that the host's commands use, so a host still gets exactly one connection. A dial that
 *   fails here is forgotten; the command that needs the host dials again and reports the failure.
 * - Opening changes nothing on a host, and the connection holds no process open.
 */
import type { Connection } from "../connection/schema";
import { poolKey, preconnect } from "./pool";

/** Tuning; tests may change it. */
export const preconnectSettings = {
  /**
   * On by default: the provider process lives for one engine operation. A process that calls the
   * handlers directly for several operations (tests) turns it off.
   */
  enabled: process.env.CONNTRACK_SSH_PRECONNECT !== "0",
  /** Handshakes in flight at once: enough to keep ahead of the engine, few enough not to crowd it. */
  concurrency: 4,
};

const noted = new Map<string, Connection>();
const queue: Connection[] = [];
let started = false;
let running = 0;

/** Notes a connection the operation will change something through (a Check of a new resource, a Diff with changes). */
export function noteChange(conn: Connection): void {
  if (!preconnectSettings.enabled) return;
  const key = poolKey(conn);
  if (noted.has(key)) return;
  noted.set(key, conn);
  if (started) queue.push(conn);
}

/**
 * The engine asked for a change: opens, in the background, the connections noted so far, and at
 * each later call those noted since.
 */
export function startPreconnecting(): void {
  if (!preconnectSettings.enabled) return;
  if (!started) {
    started = true;
    queue.push(...noted.values());
  }
  pump();
}

function pump(): void {
  while (running < preconnectSettings.concurrency && queue.length > 0) {
    const conn = queue.shift() as Connection;
    running++;
    void preconnect(conn).finally(() => {
      running--;
      pump();
    });
  }
}

/** Forgets what was noted (tests: a new operation in the same process). */
export function resetPreconnect(): void {
  noted.clear();
  queue.length = 0;
  started = false;
}

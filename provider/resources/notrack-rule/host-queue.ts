import { endpointKey, type Connection } from "../../connection/schema";

const tails = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` after every earlier call for the same host has finished. The rules of one host share
 * its raw table and saved-ruleset file, and each change is planned from an observation: run side
 * by side, all but one would find the host changed under them and start over. In one provider
 * process (a whole `pulumi up`) they queue here instead; across processes the host lock and the
 * apply script's guards keep them correct.
 */
export function queueForHost<T>(conn: Connection, fn: () => Promise<T>): Promise<T> {
  const key = endpointKey(conn);
  const prev = tails.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  tails.set(key, tail);
  void tail.then(() => {
    if (tails.get(key) === tail) tails.delete(key);
  });
  return run;
}

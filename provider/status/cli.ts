#!/usr/bin/env node
/**
 * `pulumi-conntrack status`: one row per host of its conntrack table (see {@link renderTable}),
 * read over SSH with the same transport as the resources: one connection and one command per host,
 * hosts in parallel with a bound, unreachable hosts reported while the rest are printed. Host keys
 * are checked against known_hosts as OpenSSH does (hashed entries, patterns, `@revoked`); an unknown
 * key is refused unless `--accept-new` (trust on first use: the key is appended and the session
 * pinned to it).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import type { Connection } from "../connection/schema";
import { HostKeyMismatchError } from "../errors";
import { closeAll } from "../transport/pool";
import { probeHostKey } from "./probe";
import { parseConnection, readHostStatus } from "./collect";
import { commandOf, expandHome, parseStatusArgs, USAGE, type ArgsEnvironment, type StatusOptions } from "./args";
import { afterMismatch, afterProbe, firstStep, trustLabel, type TrustContext } from "./host-trust";
import { lookupHost, parseKnownHosts, type KnownHostEntry } from "./known-hosts";
import type { HostStatus } from "./parse";
import { exitCodeOf, renderJson, renderTable, type StatusRow } from "./render";

/** The environment the command line is parsed in: the user's home and the file system. */
const ENV: ArgsEnvironment = { home: homedir(), readText: (file) => readFileSync(file, "utf8") };

/** Parses `status` arguments (after the word `status`), reading an `--inventory` file. Throws a usage error with what is wrong. */
export function parseArgs(argv: readonly string[]): StatusOptions {
  return parseStatusArgs(argv, ENV);
}

/** Refusals about host keys: said like OpenSSH says them, with what to do. */
class HostKeyRefusal extends Error {}

interface Trust {
  entries: KnownHostEntry[];
  file: string;
  acceptNew: boolean;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/** Reads one host with its key checked against known_hosts (decisions: `host-trust.ts`). */
async function readTrusted(base: Connection, trust: Trust, acceptedNotes: string[]): Promise<HostStatus> {
  const ctx: TrustContext = {
    host: base.host,
    port: base.port,
    label: trustLabel(base.host, base.port),
    file: trust.file,
    known: lookupHost(trust.entries, base.host, base.port),
  };
  const first = firstStep(ctx);
  if (first.kind === "refuse") throw new HostKeyRefusal(first.message);
  if (first.kind === "connect") {
    try {
      return await readHostStatus({ ...base, hostKey: first.hostKey });
    } catch (e) {
      if (!(e instanceof HostKeyMismatchError)) throw e;
      const next = afterMismatch(ctx, e.observed);
      if (next.kind === "refuse") throw new HostKeyRefusal(next.message);
      return readHostStatus({ ...base, hostKey: next.hostKey });
    }
  }
  const presented = await probeHostKey(base.host, base.port, base.perDialTimeout || 10);
  const verdict = afterProbe(ctx, presented, trust.acceptNew);
  if (verdict.kind === "refuse") throw new HostKeyRefusal(verdict.message);
  // Trust on first use: the key presented now is recorded, and the session is pinned to it (a
  // different key on the real connection is refused).
  mkdirSync(path.dirname(trust.file), { recursive: true, mode: 0o700 });
  appendFileSync(trust.file, verdict.line, { mode: 0o600 });
  trust.entries.push(...parseKnownHosts(verdict.line));
  acceptedNotes.push(verdict.note);
  return readHostStatus({ ...base, hostKey: verdict.hostKey });
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order of results. */
export async function boundedMap<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads every host and returns the rows (never throws for a host's failure) and notes about keys accepted. */
export async function collectRows(o: StatusOptions): Promise<{ rows: StatusRow[]; notes: string[] }> {
  const trust: Trust = {
    entries: existsSync(o.knownHosts) ? parseKnownHosts(readFileSync(o.knownHosts, "utf8")) : [],
    file: o.knownHosts,
    acceptNew: o.acceptNew,
  };
  const keys = new Map<string, string>();
  const notes: string[] = [];
  const rows = await boundedMap(o.hosts, o.parallel, async (h): Promise<StatusRow> => {
    const port = h.port ?? o.port;
    const name = port === 22 ? h.host : `${h.host}:${port}`;
    try {
      const keyFile = h.key ?? o.key;
      let privateKey: string | undefined;
      if (keyFile) {
        const p = expandHome(keyFile, ENV.home);
        if (!keys.has(p)) keys.set(p, readFileSync(p, "utf8"));
        privateKey = keys.get(p);
      }
      const conn = parseConnection({
        host: h.host,
        port,
        user: h.user ?? o.user,
        sudo: h.sudo ?? o.sudo,
        dialErrorLimit: 2,
        perDialTimeout: o.connectTimeout,
        ...(privateKey ? { privateKey } : {}),
      });
      return { host: name, ok: true, status: await readTrusted(conn, trust, notes) };
    } catch (e) {
      return { host: name, ok: false, error: firstLine(e) };
    }
  });
  return { rows, notes };
}

/** The command: prints and returns the exit code. */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const command = commandOf(argv, ENV);
  if (command.kind === "usage") {
    out(USAGE);
    return command.exitCode;
  }
  if (command.kind === "refused") {
    err(`${command.message}\n${USAGE}`);
    return command.exitCode;
  }
  const o = command.options;
  try {
    const { rows, notes } = await collectRows(o);
    out(o.json ? renderJson(rows, o.warnAt) : renderTable(rows, o.warnAt));
    for (const n of notes) err(`${n}\n`);
    return exitCodeOf(rows, o.warnAt);
  } finally {
    await closeAll();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`pulumi-conntrack: ${(e as Error).stack ?? e}\n`);
      process.exit(70);
    },
  );
}

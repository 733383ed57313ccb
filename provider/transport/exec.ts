import type { Client, ClientChannel } from "ssh2";
import { hostLabel, type Connection } from "../connection/schema";
import { RemoteCommandError, TransportError } from "../errors";
import { ChannelOpenError, withChannel } from "./pool";
import { shJoin } from "./quote";

/** What a remote command did. Success is `exitCode === 0`, nothing else. */
export interface ExecResult {
  /** Exit code; null when the command was killed by a signal or the channel closed first. */
  exitCode: number | null;
  /** Signal name when the command was killed. */
  signal?: string;
  stdout: string;
  stderr: string;
  /** Wall time from channel request to close, in milliseconds. */
  durationMs: number;
}

/** Options of {@link exec}. */
export interface ExecOptions {
  /** Bytes to write to the command's standard input (then closed). */
  stdin?: string | Buffer;
  /** Kill the command after this long; default 120 s. */
  timeoutMs?: number;
  /** How errors name the command instead of the whole argument vector (scripts are long). */
  label?: string;
}

/**
 * Counters of remote work done by this process: benchmarks and tests read them to prove, for
 * instance, that a preview touched no host. Reset by assigning 0.
 */
export const execStats = { commands: 0 };

/** Fixed environment: a C locale for parseable output, and sbin on PATH for non-root logins. */
const ENV_PREFIX = ["env", "LC_ALL=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];

/** The exact command line sent to the host for `argv` (quoted; behind `sudo -n` when asked). */
export function remoteCommandLine(conn: Pick<Connection, "sudo">, argv: readonly string[]): string {
  const full = conn.sudo ? ["sudo", "-n", "--", ...ENV_PREFIX, ...argv] : [...ENV_PREFIX, ...argv];
  return shJoin(full);
}

/**
 * An argument vector that runs a fixed script with `sh`, passing values as positional parameters
 * (`$1`...), so that values never become script text.
 */
export function script(source: string, args: readonly string[] = []): string[] {
  return ["sh", "-c", source, "sh", ...args];
}

/**
 * Runs one command on the host over its shared connection and reports what it did; never throws for
 * a non-zero exit (see {@link run}). Throws {@link TransportError} when the command could not run or
 * timed out, and the dial errors of the transport.
 */
export async function exec(conn: Connection, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  execStats.commands++;
  const line = remoteCommandLine(conn, argv);
  const label = opts.label ?? shJoin(argv);
  return withChannel(conn, (client) => runOnChannel(client, line, opts, hostLabel(conn), label));
}

/** Like {@link exec}, but a non-zero exit throws {@link RemoteCommandError} naming host, command and stderr. */
export async function run(conn: Connection, argv: readonly string[], opts: ExecOptions & { hint?: string } = {}): Promise<ExecResult> {
  const r = await exec(conn, argv, opts);
  if (r.exitCode !== 0) throw commandFailed(conn, argv, r, opts);
  return r;
}

/** The error for a command that exited non-zero. */
export function commandFailed(conn: Connection, argv: readonly string[], r: ExecResult, opts: { label?: string; hint?: string } = {}): RemoteCommandError {
  const status = r.exitCode === null ? `was killed (${r.signal ?? "channel closed"})` : `exited ${r.exitCode}`;
  const err = r.stderr.trim() || r.stdout.trim();
  return new RemoteCommandError(`remote command ${status}${err ? `: ${truncate(err, 2000)}` : ""}`, r, {
    host: hostLabel(conn),
    command: opts.label ?? shJoin(argv),
    hint: opts.hint ?? (conn.sudo ? "check that the user has passwordless sudo (sudo -n)" : undefined),
  });
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function runOnChannel(client: Client, line: string, opts: ExecOptions, host: string, label: string): Promise<ExecResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    let opened = false;
    try {
      client.exec(line, (err, stream: ClientChannel) => {
        if (err) {
          // "open failed" is the server refusing one more channel; anything else is a dead connection.
          reject(new ChannelOpenError(err.message, /open failed|administratively prohibited|resource shortage/i.test(err.message)));
          return;
        }
        opened = true;
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let exitCode: number | null = null;
        let signal: string | undefined;
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          stream.signal("KILL");
          stream.close();
        }, timeoutMs);
        stream.on("data", (d: Buffer) => out.push(d));
        stream.stderr.on("data", (d: Buffer) => errs.push(d));
        stream.on("exit", (code: number | null, sig?: string) => {
          exitCode = typeof code === "number" ? code : null;
          if (sig) signal = sig;
        });
        stream.on("close", () => {
          clearTimeout(timer);
          const result: ExecResult = {
            exitCode,
            signal,
            stdout: Buffer.concat(out).toString("utf8"),
            stderr: Buffer.concat(errs).toString("utf8"),
            durationMs: performance.now() - started,
          };
          if (timedOut) {
            reject(new TransportError(`remote command timed out after ${timeoutMs} ms`, { host, command: label, hint: "the host may be overloaded, or the command blocked on a lock" }));
          } else {
            resolve(result);
          }
        });
        stream.on("error", (e: Error) => {
          clearTimeout(timer);
          reject(new TransportError(`channel error: ${e.message}`, { host, command: label, cause: e }));
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    } catch (e) {
      if (!opened) reject(new ChannelOpenError((e as Error).message, false));
    }
  });
}

import type { Client, ClientChannel } from "ssh2";
import { hostLabel, machineKey, type Connection } from "../connection/schema";
import { RemoteCommandError, TransportError } from "../errors";
import { EXIT } from "./exit-codes";
import {
  Coalescer,
  coalesceSettings,
  DRIVER,
  FOLLOWED_CHANGE_DRIVER,
  FrameReader,
  groupInput,
  MAX_OBSERVE_LINE,
  OBSERVE_DRIVER,
  type GroupMember,
  type MemberResult,
} from "./coalesce";
import { ChannelOpenError, connectionIdentity, poolKey, withChannel } from "./pool";
import { shJoin } from "./quote";
import { HostSnapshots, snapshotSettings, type Observation, type SnapshotUse } from "./snapshot";

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
  /**
   * The command only reads the host (it changes nothing), and this is how it uses the host's
   * snapshot of this engine operation (see `snapshot.ts`): a read's or a re-checked plan's may be
   * answered from it, a fresh one runs now. Without it, the command counts as a change: the host's
   * snapshot is dropped. Ignored with `stdin`.
   */
  observation?: SnapshotUse;
  /**
   * For a `"plan"` observation: the host's count of completed changes ({@link hostEpoch}) when the
   * engine's request arrived. An observation that started with at least that many may answer it,
   * even if a change overlapped or followed it (see `snapshot.ts`).
   */
  since?: number;
  /**
   * For a change: observations to run on its channel right after it, for the caller's next plans
   * on this host (a batch that expects more members); they count as those a change brings along
   * (see `snapshot.ts`). Ignored where a change brings nothing along: without the host snapshot,
   * with the coalescer, or with a timeout above the default.
   */
  then?: readonly Observation[];
}

/**
 * Counters of remote work done by this process: benchmarks and tests read them to prove, for
 * instance, that a preview touched no host. `commands` counts commands run, `channels` the SSH
 * channels (remote shells) they took: commands issued together share one (see `coalesce.ts`).
 * Reset by assigning 0.
 */
export const execStats = { commands: 0, channels: 0 };

/** Fixed environment: a C locale for parseable output, and sbin on PATH for non-root logins. */
const FIXED_ENV = "LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const ENV_PREFIX = ["env", ...FIXED_ENV.split(" ")];

/**
 * The exact command line sent to the host for `argv` (quoted; behind `sudo -n` when asked). A
 * script ({@link script}) sets the fixed environment itself, as its first command and on its first
 * line (so the shell's line numbers in its messages stay the script's): `env` in front of it would
 * be one more program started on the host for every command, and on a small host a program start
 * is most of a short script's cost. Any other command gets it from `env`.
 */
export function remoteCommandLine(conn: Pick<Connection, "sudo">, argv: readonly string[]): string {
  const cmd =
    argv.length >= 3 && argv[0] === "sh" && argv[1] === "-c"
      ? ["sh", "-c", `export ${FIXED_ENV}; ${argv[2]}`, ...argv.slice(3)]
      : [...ENV_PREFIX, ...argv];
  return shJoin(conn.sudo ? ["sudo", "-n", "--", ...cmd] : cmd);
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
  const label = opts.label ?? shJoin(argv);
  if (!snapshotSettings.enabled) return send(conn, argv, opts, label);
  // Per machine (a change through any login drops what every login kept), kept per identity.
  const host = machineKey(conn);
  if (opts.observation && opts.stdin === undefined)
    return hostSnapshots.observe(
      host,
      connectionIdentity(conn),
      { argv, label, timeoutMs: opts.timeoutMs },
      (items) => observeTogether(conn, items),
      opts.observation,
      opts.since,
    );
  // The coalescer (opt-in) groups changes its own way; a change then brings nothing along. Nor does
  // a change given more than the default time (an initramfs regenerated, modules unloaded): what
  // waits for the reads after it would wait as long.
  if (coalesceSettings.enabled || (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) > DEFAULT_TIMEOUT_MS)
    return hostSnapshots.changing(host, () => send(conn, argv, opts, label));
  return hostSnapshots.change(
    host,
    connectionIdentity(conn),
    (after) =>
      after.length === 0 ? { change: send(conn, argv, opts, label), after: [] } : changeThenObserve(conn, { argv, opts, label }, after),
    opts.then,
  );
}

/** The observations of this process's engine operation, per host (see `snapshot.ts`). */
export const hostSnapshots = new HostSnapshots<ExecResult>();

/**
 * How many commands other than observations this process has completed on the machine of `conn`:
 * taken when a request arrives, it is the `since` of its re-checked plan ({@link ExecOptions.since}).
 */
export function hostEpoch(conn: Connection): number {
  return hostSnapshots.epoch(machineKey(conn));
}

/** Forgets every kept observation: the next read of each host goes to the host. */
export function resetSnapshots(): void {
  hostSnapshots.reset();
}

/**
 * The command line that runs observations side by side on one channel ({@link OBSERVE_DRIVER}),
 * each given as its own {@link remoteCommandLine}: the driver runs as the login, each line as it
 * says (behind `sudo -n` when its connection asks).
 */
export function observeDriverLine(lines: readonly string[]): string {
  return driverLine(OBSERVE_DRIVER, lines);
}

/** A driver that takes its commands' lines as arguments, run as the login (each line says its own sudo). */
function driverLine(driver: string, lines: readonly string[]): string {
  return remoteCommandLine({ sudo: false }, ["sh", "-c", driver, "sh", ...lines]);
}

/** Runs one command now: alone on its channel, or coalesced with others issued together. */
function send(conn: Connection, argv: readonly string[], opts: ExecOptions, label: string): Promise<ExecResult> {
  execStats.commands++;
  const line = remoteCommandLine(conn, argv);
  if (!coalesceSettings.enabled) return alone(conn, line, opts, label);
  return coalescer.submit(poolKey(conn), { conn, line, stdin: opts.stdin, opts, label });
}

/**
 * A change and then observations of the same host on one channel ({@link FOLLOWED_CHANGE_DRIVER}):
 * the change is answered as soon as it ends, each observation when it is done. A change too long
 * for the driver, or a host without a private directory for it, gets the change alone and the
 * observations on their own channels once it has ended.
 */
function changeThenObserve(
  conn: Connection,
  change: { argv: readonly string[]; opts: ExecOptions; label: string },
  after: readonly Observation[],
): { change: Promise<ExecResult>; after: Promise<MemberResult<ExecResult>>[] } {
  const first = remoteCommandLine(conn, change.argv);
  const lines = after.map((o) => remoteCommandLine(conn, o.argv));
  execStats.commands += 1 + after.length;
  const oneByOne = (answer: Answer) =>
    void settled(alone(conn, first, change.opts, change.label)).then((r) => {
      answer(0, r);
      after.forEach((o, i) => void settled(alone(conn, lines[i], { timeoutMs: o.timeoutMs }, o.label)).then((x) => answer(i + 1, x)));
    });
  const run = {
    line: driverLine(FOLLOWED_CHANGE_DRIVER, [first, ...lines]),
    stdin: change.opts.stdin,
    labels: [change.label, ...after.map((o) => o.label)],
    timeouts: [change.opts.timeoutMs, ...after.map((o) => o.timeoutMs)],
  };
  // Each line is one argument of the driver (Linux: at most 128 KiB each).
  const fits = [first, ...lines].every((l) => Buffer.byteLength(l) <= MAX_OBSERVE_LINE);
  const [done, ...rest] = fits ? viaDriver(conn, run, oneByOne) : answered(run.labels.length, oneByOne);
  return {
    change: done.then((r) => {
      if (!r.ok) throw r.error;
      return r.value;
    }),
    after: rest,
  };
}

/** Observations of one host on one channel, side by side (one alone on its own), each answered when it ends. */
function observeTogether(conn: Connection, items: readonly Observation[]): Promise<MemberResult<ExecResult>>[] {
  execStats.commands += items.length;
  const members = items.map((o) => ({
    conn,
    line: remoteCommandLine(conn, o.argv),
    opts: { timeoutMs: o.timeoutMs, label: o.label },
    label: o.label,
  }));
  return sendEach(
    members,
    members.every((m) => Buffer.byteLength(m.line) <= MAX_OBSERVE_LINE),
  );
}

/** One command on its own channel. */
function alone(conn: Connection, line: string, opts: ExecOptions, label: string): Promise<ExecResult> {
  execStats.channels++;
  return withChannel(conn, (client) => runOnChannel(client, line, opts, hostLabel(conn), label)).then(asText);
}

interface Member extends GroupMember {
  conn: Connection;
  opts: ExecOptions;
  label: string;
}

const coalescer = new Coalescer<Member, ExecResult>(sendGroup);

const settled = (p: Promise<ExecResult>): Promise<MemberResult<ExecResult>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );

/** Runs a group of commands for one connection and answers for all of them at once (see {@link sendEach}). */
function sendGroup(members: Member[], sideBySide = false): Promise<MemberResult<ExecResult>[]> {
  return Promise.all(sendEach(members, sideBySide));
}

/**
 * Runs a group of commands for one connection: a lone command on its own channel, several through
 * a driver on one channel. Each member is answered as soon as the driver reports it (the
 * observation driver reports each command when it ends), not when the whole group is done.
 */
function sendEach(members: Member[], sideBySide = false): Promise<MemberResult<ExecResult>>[] {
  if (members.length === 1) return [settled(alone(members[0].conn, members[0].line, members[0].opts, members[0].label))];
  // Observations (no stdin) run side by side, their command lines as arguments; others in order.
  const run = sideBySide
    ? { line: observeDriverLine(members.map((m) => m.line)), stdin: undefined }
    : { line: remoteCommandLine({ sudo: false }, ["sh", "-c", DRIVER]), stdin: groupInput(members) };
  return viaDriver(
    members[0].conn,
    { ...run, labels: members.map((m) => m.label), timeouts: members.map((m) => m.opts.timeoutMs) },
    // No temporary directory on the host (full or read-only /tmp): one channel per command.
    (answer) => members.forEach((m, i) => void settled(alone(m.conn, m.line, m.opts, m.label)).then((r) => answer(i, r))),
  );
}

/** Answers command `i` of a group (only its first answer counts). */
type Answer = (i: number, r: MemberResult<ExecResult>) => void;

/** One promise per command of a group, answered by `fill` through {@link Answer}. */
function answered(count: number, fill: (answer: Answer) => void): Promise<MemberResult<ExecResult>>[] {
  const answers = Array.from({ length: count }, () => {
    let resolve!: (r: MemberResult<ExecResult>) => void;
    const promise = new Promise<MemberResult<ExecResult>>((r) => (resolve = r));
    return { promise, resolve, done: false };
  });
  fill((i, r) => {
    const a = answers[i];
    if (a.done) return;
    a.done = true;
    a.resolve(r);
  });
  return answers.map((a) => a.promise);
}

/**
 * Runs a driver (`coalesce.ts`) for a group of commands on one channel and answers each command as
 * soon as the driver reports it; commands the channel ended without reporting are answered as
 * commands whose channel closed. When the driver ran nothing for want of a private directory on the
 * host, `instead` runs the commands some other way and answers them.
 */
function viaDriver(
  conn: Connection,
  run: { line: string; stdin?: string | Buffer; labels: readonly string[]; timeouts: readonly (number | undefined)[] },
  instead: (answer: Answer) => void,
): Promise<MemberResult<ExecResult>>[] {
  const count = run.labels.length;
  const host = hostLabel(conn);
  const label = `${count} commands: ${run.labels.map((l) => l.split("\n")[0].slice(0, 60)).join("; ")}`;
  // No command of the group gets less time than it would alone.
  const timeoutMs = run.timeouts.reduce<number>((t, x) => t + (x ?? DEFAULT_TIMEOUT_MS), 0);
  execStats.channels++;
  const started = performance.now();
  return answered(count, (answer) => {
    let reported = 0;
    const frames = new FrameReader(count);
    const onStdout = (chunk: Buffer) => {
      for (const f of frames.push(chunk)) {
        const o = f.outcome;
        reported++;
        answer(f.index, {
          ok: true,
          value: {
            exitCode: o.exitCode,
            stdout: o.stdout.toString("utf8"),
            stderr: o.stderr.toString("utf8"),
            durationMs: performance.now() - started,
          },
        });
      }
    };
    withChannel(conn, (client) => runOnChannel(client, run.line, { stdin: run.stdin, timeoutMs, onStdout }, host, label)).then(
      (raw) => {
        if (reported === 0 && raw.exitCode === EXIT.DRIVER_SETUP_FAILED) return instead(answer);
        // The channel ended before these commands reported: as commands whose channel closed.
        for (let i = 0; i < count; i++)
          answer(i, {
            ok: true,
            value: { exitCode: null, signal: raw.signal ?? "channel closed", stdout: "", stderr: "", durationMs: raw.durationMs },
          });
      },
      (error) => {
        for (let i = 0; i < count; i++) answer(i, { ok: false, error });
      },
    );
  });
}

/** Like {@link exec}, but a non-zero exit throws {@link RemoteCommandError} naming host, command and stderr. */
export async function run(conn: Connection, argv: readonly string[], opts: ExecOptions & { hint?: string } = {}): Promise<ExecResult> {
  const r = await exec(conn, argv, opts);
  if (r.exitCode !== EXIT.OK) throw commandFailed(conn, argv, r, opts);
  return r;
}

/** The error for a command that exited non-zero. */
export function commandFailed(
  conn: Connection,
  argv: readonly string[],
  r: ExecResult,
  opts: { label?: string; hint?: string } = {},
): RemoteCommandError {
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

const DEFAULT_TIMEOUT_MS = 120_000;

/** {@link ExecResult} with the outputs as bytes. */
interface RawResult extends Omit<ExecResult, "stdout" | "stderr"> {
  stdout: Buffer;
  stderr: Buffer;
}

function asText(r: RawResult): ExecResult {
  return { ...r, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
}

function runOnChannel(
  client: Client,
  line: string,
  opts: Pick<ExecOptions, "stdin" | "timeoutMs"> & { onStdout?: (chunk: Buffer) => void },
  host: string,
  label: string,
): Promise<RawResult> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
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
        stream.on("data", (d: Buffer) => {
          out.push(d);
          opts.onStdout?.(d);
        });
        stream.stderr.on("data", (d: Buffer) => errs.push(d));
        stream.on("exit", (code: number | null, sig?: string) => {
          exitCode = typeof code === "number" ? code : null;
          if (sig) signal = sig;
        });
        stream.on("close", () => {
          clearTimeout(timer);
          const result: RawResult = {
            exitCode,
            signal,
            stdout: Buffer.concat(out),
            stderr: Buffer.concat(errs),
            durationMs: performance.now() - started,
          };
          if (timedOut) {
            reject(
              new TransportError(`remote command timed out after ${timeoutMs} ms`, {
                host,
                command: label,
                hint: "the host may be overloaded, or the command blocked on a lock",
              }),
            );
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

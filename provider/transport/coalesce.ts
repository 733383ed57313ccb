/**
 * Commands for one host that are issued together go to it as one remote command. Every `exec` costs
 * a new SSH channel and a new login shell on the host (sshd forks a session for each), which on a
 * fleet is most of the cost of a small command. The engine's steps for the resources of one host
 * arrive a few milliseconds apart, so their observations (and later their applies) are issued
 * together; this sends such a group over ONE channel: a fixed driver script on the host reads the
 * group from stdin, runs each command in turn with its own stdin, and reports each command's exit
 * code, stdout and stderr separately (framed by byte counts, never parsed from the output itself).
 *
 * What stays as it was: each command is the same command line with the same stdin, so every script
 * still takes the host lock and applies atomically on its own; each caller gets its own result. What
 * changes: the commands of one group run one after another instead of side by side, and a command
 * killed by a signal reports exit code 128+n (as a shell does) instead of a signal name.
 */
import { EXIT } from "./exit-codes";

/** Coalescing tuning; tests and benchmarks may change it. */
export const coalesceSettings = {
  /**
   * Opt-in (CONNTRACK_SSH_COALESCE=1) until it earns its place: on the shared 2-core machine its
   * effect was within the benchmark's noise, and it runs a group's commands one after another, so
   * a command waiting for the host lock holds up the others of its group. Off, every command gets
   * its own channel.
   */
  enabled: process.env.CONNTRACK_SSH_COALESCE === "1",
  /**
   * A group is sent when no command joined it for this long... Longer than the per-host batcher's
   * window (`common/batcher.ts`), so that a batch's command, issued when the batcher's window
   * closes, still meets the commands other resources of the host issued when it opened.
   */
  quietMs: envMs("CONNTRACK_SSH_COALESCE_QUIET_MS", 8),
  /** ...or this long after its first command, whichever comes first. */
  maxWaitMs: envMs("CONNTRACK_SSH_COALESCE_MAX_WAIT_MS", 40),
  /** Most commands in one group. */
  maxMembers: 32,
  /** Most bytes (command lines and stdin) in one group; a larger command goes alone. */
  maxBytes: 4 * 1024 * 1024,
};

function envMs(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
}

/** A driver's private temporary directory `$t`, removed on exit. */
const DRIVER_SETUP = [
  `t=$(mktemp -d 2>/dev/null) || exit ${EXIT.DRIVER_SETUP_FAILED}`,
  `trap 'rm -rf "$t"' EXIT`,
  `trap 'exit 143' HUP INT TERM`,
];

/** A driver's report of command `$i` (exit code `$rc`): its frame line, its stdout, its stderr; then the next `$i`. */
function reportFrame(out: string, err: string): string[] {
  return [
    // One wc for both sizes ("<bytes> <path>" per file, then a total), read by the shell.
    `  so=; se=; ctk_sz=$(wc -c ${out} ${err})`,
    `  { read -r so _ && read -r se _; } <<ctk_eof`,
    `$ctk_sz`,
    `ctk_eof`,
    `  printf '%s %s %s %s\\n' "$i" "$rc" $(( so )) $(( se ))`,
    `  cat ${out} ${err}`,
    `  i=$((i + 1))`,
  ];
}

/**
 * The driver, run as `sh -c DRIVER` on one channel. Its stdin: a first line with the number of bytes
 * that follow it and two byte counts per command (command line, stdin), then those bytes. Input
 * shorter than announced runs nothing (exit {@link EXIT.DRIVER_INPUT_INCOMPLETE}). It copies stdin to a private temporary directory
 * (mktemp -d: mode 700, removed on exit), cuts each command and its stdin out by byte counts, runs
 * the command line with `sh` (what sshd's login shell would run it with: every argument is quoted),
 * and writes, per command, a line `<index> <exit code> <stdout bytes> <stderr bytes>` followed by its
 * stdout and its stderr.
 */
export const DRIVER = [
  ...DRIVER_SETUP,
  `cat > "$t/all" || exit ${EXIT.DRIVER_SETUP_FAILED}`,
  `head -n 1 "$t/all" > "$t/h" || exit ${EXIT.DRIVER_SETUP_FAILED}`,
  `off=$(( $(wc -c < "$t/h") + 1 ))`,
  `set -- $(cat "$t/h")`,
  `[ "$#" -ge 1 ] && [ "$(( $(wc -c < "$t/all") - off + 1 ))" = "$1" ] || exit ${EXIT.DRIVER_INPUT_INCOMPLETE}`,
  `shift`,
  `i=0`,
  `while [ $# -ge 2 ]; do`,
  `  tail -c +"$off" "$t/all" | head -c "$1" > "$t/c"; off=$((off + $1))`,
  `  tail -c +"$off" "$t/all" | head -c "$2" > "$t/i"; off=$((off + $2))`,
  `  shift 2`,
  `  sh "$t/c" < "$t/i" > "$t/o" 2> "$t/e"`,
  `  rc=$?`,
  ...reportFrame('"$t/o"', '"$t/e"'),
  `done`,
].join("\n");

/**
 * The driver for a group of observations (read-only commands without stdin, see `snapshot.ts`),
 * run as `sh -c OBSERVE_DRIVER sh LINE...`: it starts every command line at once, each with its own
 * output files in a private temporary directory, and reports each as soon as it ends, in the same
 * frames as {@link DRIVER} (whose index says which command it is). The commands change nothing, so
 * running them side by side is safe; a host's reads take as long as the slowest of them rather than
 * their sum, and each caller has its answer when its own command is done, not the slowest. Each
 * command tells the driver it ended by one short line on a FIFO (one write, so lines never mix).
 * Each command line is one argument, so one stays under Linux's 128 KiB limit per argument
 * ({@link MAX_OBSERVE_LINE}).
 */
export const OBSERVE_DRIVER = [
  ...DRIVER_SETUP,
  `mkfifo "$t/q" || exit ${EXIT.DRIVER_SETUP_FAILED}`,
  // Read and write: never blocks on open, never reads end-of-file while commands still run.
  `exec 3<> "$t/q"`,
  `n=0`,
  `for c in "$@"; do`,
  // `command eval`, not `sh -c`: one shell fewer per command. Each line is a quoted argument
  // vector (remoteCommandLine) starting with a program (sh, sudo or env), never a built-in that
  // could end this subshell before it reports; `command` keeps even a syntax error from ending it.
  `  { command eval "$c" < /dev/null > "$t/o$n" 2> "$t/e$n" 3>&-; echo "$n $?" >&3; } &`,
  `  n=$((n + 1))`,
  `done`,
  `k=0`,
  `while [ "$k" -lt "$n" ] && read -r i rc <&3; do`,
  ...reportFrame('"$t/o$i"', '"$t/e$i"'),
  `  k=$((k + 1))`,
  `done`,
].join("\n");

/**
 * The driver for a change followed by observations (see `snapshot.ts`, "a change brings the host's
 * unseen reads along"), run as `sh -c FOLLOWED_CHANGE_DRIVER sh CHANGE OBSERVATION...`: it runs the
 * change first, with the channel's stdin as its own (no copy), reports it, and only then runs each
 * observation in turn without stdin, reporting each as it ends, in the frames of {@link DRIVER}.
 * The observations therefore read the host as the change left it. Nothing runs when the private
 * directory cannot be made (exit {@link EXIT.DRIVER_SETUP_FAILED}, no report).
 */
export const FOLLOWED_CHANGE_DRIVER = [
  ...DRIVER_SETUP,
  `c=$1`,
  `shift`,
  `i=0`,
  // The change keeps the channel's stdin; `command eval`, as in OBSERVE_DRIVER.
  `command eval "$c" > "$t/o" 2> "$t/e"`,
  `rc=$?`,
  ...reportFrame('"$t/o"', '"$t/e"'),
  `for c in "$@"; do`,
  `  command eval "$c" < /dev/null > "$t/o" 2> "$t/e"`,
  `  rc=$?`,
  ...reportFrame('"$t/o"', '"$t/e"'),
  `done`,
].join("\n");

/** Longest command line {@link OBSERVE_DRIVER} takes as one argument (Linux: 128 KiB per argument). */
export const MAX_OBSERVE_LINE = 96 * 1024;

/** One command of a group: its command line and stdin. */
export interface GroupMember {
  line: string;
  stdin?: string | Buffer;
}

/** What one command of a group did, as the driver reported it. */
export interface MemberOutcome {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

const bytesOf = (x: string | Buffer | undefined) =>
  x === undefined ? Buffer.alloc(0) : typeof x === "string" ? Buffer.from(x, "utf8") : x;

/** The driver's stdin for a group. */
export function groupInput(members: readonly GroupMember[]): Buffer {
  const parts = members.map((m) => [Buffer.from(m.line, "utf8"), bytesOf(m.stdin)]);
  const body = parts.reduce((n, [l, i]) => n + l.length + i.length, 0);
  const header = [String(body), ...parts.map(([l, i]) => `${l.length} ${i.length}`)].join(" ");
  return Buffer.concat([Buffer.from(`${header}\n`), ...parts.flat()]);
}

/** Bytes a member adds to a group. */
export function memberBytes(m: GroupMember): number {
  return Buffer.byteLength(m.line) + bytesOf(m.stdin).length + 24;
}

/** One report of a driver: which command (its index in the group) and what it did. */
export interface Frame {
  index: number;
  outcome: MemberOutcome;
}

/**
 * Reads a driver's stdout as it arrives and hands out each report once it is complete. Reports may
 * come in any order (the observation driver reports each command when it ends); anything that is not
 * a well-formed report of a command not yet reported stops the reading: the commands without a
 * report are then answered as if the channel had closed.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private seen = new Set<number>();
  private broken = false;

  constructor(private readonly count: number) {}

  /** Adds bytes; returns the reports they complete. */
  push(chunk: Buffer): Frame[] {
    if (this.broken) return [];
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) break;
      const m = /^(\d+) (\d+) (\d+) (\d+)$/.exec(this.buf.subarray(0, nl).toString("latin1"));
      const index = m ? Number(m[1]) : -1;
      if (!m || index >= this.count || this.seen.has(index)) {
        this.broken = true;
        break;
      }
      const [o, e] = [Number(m[3]), Number(m[4])];
      const start = nl + 1;
      if (start + o + e > this.buf.length) break;
      this.seen.add(index);
      frames.push({
        index,
        outcome: {
          exitCode: Number(m[2]),
          stdout: this.buf.subarray(start, start + o),
          stderr: this.buf.subarray(start + o, start + o + e),
        },
      });
      this.buf = this.buf.subarray(start + o + e);
    }
    return frames;
  }
}

/**
 * Splits a driver's whole stdout into outcomes by command index. The list stops before the first
 * command that did not report (the driver was killed, or the channel closed).
 */
export function parseGroupOutput(out: Buffer, count: number): MemberOutcome[] {
  const byIndex = new Map(new FrameReader(count).push(out).map((f) => [f.index, f.outcome]));
  const outcomes: MemberOutcome[] = [];
  for (let i = 0; i < count && byIndex.has(i); i++) outcomes.push(byIndex.get(i) as MemberOutcome);
  return outcomes;
}

/** What one member of a group ended with. */
export type MemberResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface Pending<M, T> {
  members: { m: M; resolve(v: T): void; reject(e: unknown): void }[];
  bytes: number;
  started: number;
  timer?: NodeJS.Timeout;
}

/**
 * Groups commands per key (the connection's complete identity: the pool's key) over a short
 * bounded window and hands each group to `send`, which answers for every member in order. Groups
 * of one key are sent as soon as they close, side by side with earlier groups still running.
 */
export class Coalescer<M extends GroupMember, T> {
  private pending = new Map<string, Pending<M, T>>();

  constructor(private readonly send: (members: M[]) => Promise<MemberResult<T>[]>) {}

  submit(key: string, m: M): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const size = memberBytes(m);
      let p = this.pending.get(key);
      if (p && p.bytes + size > coalesceSettings.maxBytes) {
        this.flush(key, p);
        p = undefined;
      }
      if (!p) {
        p = { members: [], bytes: 0, started: performance.now() };
        this.pending.set(key, p);
      }
      p.members.push({ m, resolve, reject });
      p.bytes += size;
      if (p.members.length >= coalesceSettings.maxMembers) this.flush(key, p);
      else this.arm(key, p);
    });
  }

  private arm(key: string, p: Pending<M, T>): void {
    if (p.timer) clearTimeout(p.timer);
    const left = p.started + coalesceSettings.maxWaitMs - performance.now();
    p.timer = setTimeout(() => this.flush(key, p), Math.max(0, Math.min(coalesceSettings.quietMs, left)));
  }

  private flush(key: string, p: Pending<M, T>): void {
    if (p.timer) clearTimeout(p.timer);
    if (this.pending.get(key) === p) this.pending.delete(key);
    const members = p.members;
    this.send(members.map((x) => x.m)).then(
      (results) =>
        members.forEach((x, i) => {
          const r = results[i] ?? {
            ok: false as const,
            error: new Error("internal error: a command group gave no result for one of its commands"),
          };
          if (r.ok) x.resolve(r.value);
          else x.reject(r.error);
        }),
      (error) => members.forEach((x) => x.reject(error)),
    );
  }
}

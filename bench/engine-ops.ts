/**
 * The four engine operations of the benchmark, driven as the engine drives a dynamic provider: a
 * fresh SDK dynamic-provider server per operation (the engine starts the plugin for one `pulumi`
 * command), one gRPC call per step, at most `parallel` steps in flight (`pulumi up --parallel`).
 * The server and its gRPC client are the engine harness's (test/engine/provider-server.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { MockMonitor } from "../test/engine/monitor";
import { ProviderServer, type Target } from "../test/engine/provider-server";
import type { Props } from "../test/engine/wire";
import type { BenchResource } from "./program";

/** What the engine keeps of a created resource. */
export interface Stored {
  res: BenchResource;
  id: string;
  inputs: Props;
  outputs: Props;
}

/** What one operation cost, as the provider process itself counted it. */
export interface PhaseResult {
  ms: number;
  /** SSH connections dialled by the provider process. */
  dials: number;
  /** Remote commands the provider process ran. */
  commands: number;
  /** SSH channels (remote shells) those commands took. */
  channels: number;
  /** CPU time the provider process used (user + system), in seconds, start-up included. */
  cpuSeconds: number;
  /** Peak RSS of the provider process, in MiB. */
  peakRssMb: number;
  /** Steps that failed, and the first error. */
  failed: number;
  firstError?: string;
  /**
   * Where the machine's CPU went during the operation, in seconds: all of it (every process, the
   * lab hosts' sshd and scripts included: they share these cores), the provider process's part,
   * and the engine stand-in's (this benchmark process: gRPC client and step scheduling). Busy is
   * the share of the machine's capacity (CPUs x wall time) in use. Absent for the floors.
   */
  cpu?: { machine: number; busy: number; provider: number; engine: number };
}

const REPO = path.resolve(__dirname, "..");
const PROBE = path.join(__dirname, "probe.cjs");

/** Runs `fn` over `items` with at most `limit` in flight, in order of `items`. */
async function bounded<T>(items: readonly T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Runs an update as the engine does: its step generator calls `gen` (Check) for each item in
 * program order, one call at a time and not bounded by `--parallel` (the program registers its
 * resources without waiting for them), and each step it yields waits for one of `limit` slots to run
 * `exec` (Create). Seen on the real CLI (a trace of the provider's calls): Checks of later hosts
 * arrive while earlier hosts' Creates run.
 */
async function generated<T, S>(
  items: readonly T[],
  limit: number,
  gen: (x: T) => Promise<S | undefined>,
  exec: (s: S) => Promise<void>,
): Promise<void> {
  const queue: S[] = [];
  const running: Promise<void>[] = [];
  let active = 0;
  const pump = () => {
    while (active < limit && queue.length > 0) {
      const step = queue.shift() as S;
      active++;
      running.push(
        exec(step).finally(() => {
          active--;
          pump();
        }),
      );
    }
  };
  for (const x of items) {
    const step = await gen(x);
    if (step === undefined) continue;
    queue.push(step);
    pump();
  }
  // Steps start as earlier ones end, so the list grows while it is awaited.
  for (let i = 0; i < running.length; i++) await running[i];
}

async function probe(
  file: string,
  pid: number,
): Promise<{ commands: number; channels: number; dials: number; peakRssKb: number; cpuSeconds: number }> {
  const before = existsSync(file) ? statSync(file).mtimeMs : 0;
  const seen = () => existsSync(file) && statSync(file).mtimeMs !== before;
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 200 && !seen(); i++) await new Promise((r) => setTimeout(r, 10));
  return JSON.parse(readFileSync(file, "utf8"));
}

/**
 * Starts a provider server with the probe preloaded, runs `body` (timed), reads the probe and stops
 * the server. Server start-up is outside the timing: the engine starts the plugin before its steps.
 */
async function withProvider(body: (p: ProviderServer, fail: (e: unknown) => void) => Promise<void>): Promise<PhaseResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "ctk-bench-"));
  const file = path.join(dir, "probe.json");
  const monitor = await MockMonitor.start({
    register: async () => ({ urn: "", id: "", outputs: {} }),
    registerOutputs: () => undefined,
    log: () => undefined,
  });
  const saved = { opts: process.env.NODE_OPTIONS, probe: process.env.CONNTRACK_BENCH_PROBE };
  process.env.NODE_OPTIONS = `${saved.opts ?? ""} --require ${PROBE}`.trim();
  process.env.CONNTRACK_BENCH_PROBE = file;
  let server: ProviderServer;
  try {
    server = await ProviderServer.start({ cwd: REPO, engineAddress: monitor.address, config: {}, onLog: () => undefined });
  } finally {
    restore("NODE_OPTIONS", saved.opts);
    restore("CONNTRACK_BENCH_PROBE", saved.probe);
  }
  const pid = JSON.parse(readFileSync(file, "utf8")).pid as number;
  let failed = 0;
  let firstError: string | undefined;
  const fail = (e: unknown) => {
    failed++;
    firstError ??= (e as Error).message ?? String(e);
  };
  const p0 = await probe(file, pid);
  const m0 = machineCpu();
  const e0 = process.cpuUsage();
  const t0 = performance.now();
  await body(server, fail);
  const ms = performance.now() - t0;
  const e1 = process.cpuUsage(e0);
  const m1 = machineCpu();
  const p = await probe(file, pid);
  await server.stop();
  await monitor.stop();
  rmSync(dir, { recursive: true, force: true });
  return {
    ms,
    dials: p.dials,
    commands: p.commands,
    channels: p.channels,
    cpuSeconds: p.cpuSeconds,
    peakRssMb: p.peakRssKb / 1024,
    failed,
    firstError,
    cpu: {
      machine: m1.busy - m0.busy,
      busy: (m1.busy - m0.busy) / (m1.total - m0.total),
      provider: p.cpuSeconds - p0.cpuSeconds,
      engine: (e1.user + e1.system) / 1e6,
    },
  };
}

/**
 * CPU time of the whole machine so far, in seconds (the first line of /proc/stat, in the kernel's
 * USER_HZ of 100 per second): busy (everything but idle and iowait) and total.
 */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - f[3] - (f[4] ?? 0)) / 100, total: total / 100 };
}

function restore(name: string, v: string | undefined): void {
  if (v === undefined) delete process.env[name];
  else process.env[name] = v;
}

const target = (r: BenchResource): Target => ({ urn: r.urn, type: r.type, name: r.name });

/**
 * `pulumi up` of a new stack: Check per resource as the engine's step generator calls it (one at a
 * time, in program order), Create per resource with at most `parallel` in flight.
 */
export async function coldUp(
  program: readonly BenchResource[],
  providers: Record<string, string>,
  parallel: number,
): Promise<{ result: PhaseResult; stored: Stored[] }> {
  const stored: Stored[] = [];
  const result = await withProvider((server, fail) =>
    generated(
      program,
      parallel,
      async (res) => {
        try {
          const news = { ...res.inputs, __provider: providers[res.type] } as Props;
          const c = await server.check(target(res), {}, news);
          if (c.failures.length) throw new Error(`check failed: ${JSON.stringify(c.failures)}`);
          return { res, inputs: c.inputs };
        } catch (e) {
          fail(e);
          return undefined;
        }
      },
      async ({ res, inputs }) => {
        try {
          const { id, outputs } = await server.create(target(res), inputs);
          stored.push({ res, id, inputs, outputs });
        } catch (e) {
          fail(e);
        }
      },
    ),
  );
  return { result, stored };
}

/** `pulumi up` with nothing changed: Check and Diff per resource (the preview's calls, too). */
export function noopUp(stored: readonly Stored[], providers: Record<string, string>, parallel: number): Promise<PhaseResult> {
  return withProvider((server, fail) =>
    bounded(stored, parallel, async (s) => {
      try {
        const news = { ...s.res.inputs, __provider: providers[s.res.type] } as Props;
        const c = await server.check(target(s.res), s.inputs, news);
        const d = await server.diff(target(s.res), s.id, s.outputs, c.inputs, s.inputs);
        if (d.changes !== "none") throw new Error(`diff of ${s.res.name} reports changes (${d.changes})`);
      } catch (e) {
        fail(e);
      }
    }),
  );
}

/** `pulumi refresh`: Read per resource; the answers replace the stored outputs. */
export function refresh(stored: Stored[], providers: Record<string, string>, parallel: number): Promise<PhaseResult> {
  return withProvider((server, fail) =>
    bounded(stored, parallel, async (s) => {
      try {
        const r = await server.read(target(s.res), s.id, s.outputs, s.inputs);
        if (r.id === "") throw new Error(`refresh of ${s.res.name}: gone from the host`);
        s.outputs = r.outputs;
        if (r.inputs) s.inputs = r.inputs;
      } catch (e) {
        fail(e);
      }
    }),
  );
}

/** `pulumi destroy`: Delete per resource (none depends on another, so all may run at once). */
export function destroy(stored: readonly Stored[], providers: Record<string, string>, parallel: number): Promise<PhaseResult> {
  return withProvider((server, fail) =>
    bounded(stored, parallel, async (s) => {
      try {
        await server.delete(target(s.res), s.id, s.outputs, s.inputs);
      } catch (e) {
        fail(e);
      }
    }),
  );
}

/**
 * The real Pulumi CLI, offline: where the pinned binary is, the environment every call gets, and
 * {@link RealStack}, one stack of a project directory driven operation by operation (each one a
 * process of its own, `scripts/pulumi-inline.ts`, as `pulumi up` would be). Used by the demo, the
 * benchmark and the real-engine tests.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** This repository's root. */
export const REPO = path.resolve(__dirname, "..");
const RUNNER = path.join(REPO, "scripts", "pulumi-inline.ts");
const BUILD = path.join(REPO, "scripts", "pulumi-cli.sh");

/** The passphrase of stacks made here (local stacks only; override with PULUMI_CONFIG_PASSPHRASE). */
export const DEFAULT_PASSPHRASE = "pulumi-conntrack local stacks";

let cliPath: string | undefined = process.env.PULUMI_CONNTRACK_CLI;

/**
 * Path of the pinned Pulumi CLI, built first when this machine has none (`scripts/pulumi-cli.sh`,
 * progress on stderr). Throws when it cannot be built; {@link pulumiCliCached} only looks.
 */
export function pulumiCli(): string {
  if (cliPath) return cliPath;
  const r = spawnSync("bash", [BUILD], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`scripts/pulumi-cli.sh failed (exit ${r.status}): the Pulumi CLI is not available`);
  cliPath = r.stdout.trim();
  return cliPath;
}

/** The cached CLI's path, or undefined when it is not built yet. */
export function pulumiCliCached(): string | undefined {
  const r = spawnSync("bash", [BUILD, "--check"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * Environment of every CLI call: a local file backend and `PULUMI_HOME` under `state`, the secrets
 * provider's passphrase, no update check, no plugin download, and a PATH on which the CLI finds
 * itself, node, and the dynamic-provider plugin `pulumi-resource-pulumi-nodejs` that ships inside
 * `@pulumi/pulumi`. With these the CLI has no reason to open a network connection.
 */
export function offlineEnv(state: string, cli: string): Record<string, string> {
  const plugin = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [REPO] }));
  return {
    PULUMI_BACKEND_URL: `file://${path.join(state, "backend")}`,
    PULUMI_HOME: path.join(state, "home"),
    PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? DEFAULT_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PATH: [path.dirname(cli), plugin, path.dirname(process.execPath), process.env.PATH ?? "/usr/bin:/bin"].join(":"),
  };
}

/** The workspace directory of a project in a state directory (see pulumi-inline.ts). */
export function workDirOf(state: string, project: string): string {
  // The file backend does not create its directory.
  for (const d of ["backend", "home"]) mkdirSync(path.join(state, d), { recursive: true });
  const m = /^name:\s*(\S+)/m.exec(readFileSync(path.join(project, "Pulumi.yaml"), "utf8"));
  if (!m) throw new Error(`${project}/Pulumi.yaml has no name`);
  const work = path.join(state, "work", m[1]);
  mkdirSync(work, { recursive: true });
  copyFileSync(path.join(project, "Pulumi.yaml"), path.join(work, "Pulumi.yaml"));
  if (!existsSync(path.join(work, "node_modules"))) symlinkSync(path.join(REPO, "node_modules"), path.join(work, "node_modules"), "dir");
  return work;
}

/** One engine step event (see pulumi-inline.ts). */
export interface StepEvent {
  op: string;
  urn: string;
  type: string;
  diffs?: string[];
  phase: "pre" | "outputs" | "failed";
}

/** What one CLI operation did. */
export interface CliRun {
  op: string;
  args: string[];
  exitCode: number;
  /** The CLI's own output (what `pulumi up` prints). */
  stdout: string;
  stderr: string;
  summary?: Record<string, unknown>;
  events: StepEvent[];
  ms: number;
}

/**
 * `name: op` of each resource with a step (the stack itself and the provider left out), sorted. A
 * replacement's steps (`create-replacement`, `replace`, `delete-replaced`, in either order) count as
 * one `replace`; the exact sequence is in `events`.
 */
export function opsByName(r: CliRun, phase: StepEvent["phase"] = "pre"): Record<string, string> {
  const ops = new Map<string, string[]>();
  for (const e of r.events) {
    if (e.phase !== phase || e.type === "pulumi:pulumi:Stack" || e.type.startsWith("pulumi:providers:")) continue;
    const name = e.urn.split("::").pop() ?? e.urn;
    ops.set(name, [...(ops.get(name) ?? []), e.op]);
  }
  const REPLACE = ["replace", "create-replacement", "delete-replaced"];
  const rows = [...ops].map(([n, list]) => [n, list.some((o) => REPLACE.includes(o)) ? "replace" : list[list.length - 1]] as const);
  return Object.fromEntries(rows.sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

/** A stack of a project directory on the real CLI, with its own state directory. */
export class RealStack {
  readonly state: string;
  readonly cli: string;
  readonly env: Record<string, string>;
  readonly work: string;
  private config: Record<string, unknown>;

  constructor(
    readonly project: string,
    readonly stack: string,
    config: Record<string, unknown>,
    state?: string,
  ) {
    this.state = state ?? mkdtempSync(path.join(tmpdir(), "ctk-pulumi-"));
    this.cli = pulumiCli();
    this.env = offlineEnv(this.state, this.cli);
    this.work = workDirOf(this.state, project);
    this.config = config;
  }

  setConfig(config: Record<string, unknown>): void {
    this.config = config;
  }

  /** Starts `op` (up, preview, refresh, destroy) with CLI flags; resolves when it exits. */
  start(op: string, flags: string[] = [], onStdout?: (s: string) => void): { child: ChildProcess; done: Promise<CliRun> } {
    const t0 = Date.now();
    const tmp = mkdtempSync(path.join(tmpdir(), "ctk-run-"));
    const cfg = path.join(tmp, "config.json");
    const result = path.join(tmp, "result.json");
    writeFileSync(cfg, JSON.stringify(this.config));
    const args = [
      "--import",
      "tsx",
      RUNNER,
      "--project",
      this.project,
      "--stack",
      this.stack,
      "--state",
      this.state,
      "--config",
      cfg,
      "--result",
      result,
      "--",
      op,
      ...flags,
    ];
    // Its own process group: a test can Ctrl-C it (SIGINT to the group) as a terminal would.
    const child = spawn(process.execPath, args, {
      cwd: REPO,
      env: { ...process.env, PULUMI_CONNTRACK_CLI: this.cli },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d;
      onStdout?.(d.toString());
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d));
    const done = new Promise<CliRun>((resolve) => {
      child.on("close", (code, signal) => {
        let rec: { summary?: Record<string, unknown>; events?: StepEvent[] } = {};
        try {
          rec = JSON.parse(readFileSync(result, "utf8"));
        } catch {
          /* the runner died before writing it: exitCode and stderr say why */
        }
        rmSync(tmp, { recursive: true, force: true });
        resolve({
          op,
          args: flags,
          exitCode: code ?? (signal ? 128 : 1),
          stdout,
          stderr,
          summary: rec.summary,
          events: rec.events ?? [],
          ms: Date.now() - t0,
        });
      });
    });
    return { child, done };
  }

  /** Runs `op` to the end. */
  run(op: string, flags: string[] = [], onStdout?: (s: string) => void): Promise<CliRun> {
    return this.start(op, flags, onStdout).done;
  }

  /** A plain `pulumi ARGS` in the workspace (stack commands, no program): exit code and output. */
  pulumi(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(this.cli, args, {
      cwd: this.work,
      env: { ...process.env, ...this.env },
      encoding: "utf8",
      input,
      maxBuffer: 256 << 20,
    });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /** `pulumi stack export --stack NAME` as text (throws when the CLI fails). */
  exportText(showSecrets = false): string {
    const r = this.pulumi(["stack", "export", "--stack", this.stack, ...(showSecrets ? ["--show-secrets"] : [])]);
    if (r.code !== 0) throw new Error(`pulumi stack export failed (exit ${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** The stack's resources as `pulumi stack export` lists them. */
  resources(): {
    urn: string;
    type: string;
    custom?: boolean;
    id?: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
    protect?: boolean;
  }[] {
    return (JSON.parse(this.exportText()) as { deployment: { resources?: [] } }).deployment.resources ?? [];
  }

  /** `pulumi stack init` (a stack must exist before `stack import`). */
  init(): void {
    const r = this.pulumi(["stack", "init", this.stack]);
    if (r.code !== 0 && !/already exists/.test(r.stderr)) throw new Error(`pulumi stack init failed (exit ${r.code}): ${r.stderr}`);
  }

  /** Removes the stack's state directory (the stack must be empty or abandoned). */
  remove(): void {
    rmSync(this.state, { recursive: true, force: true });
  }
}

/** `pulumi version` of a binary. */
export function versionOf(cli: string): string {
  return execFileSync(cli, ["version"], { encoding: "utf8" }).trim();
}

import { spawn } from "node:child_process";
import { configEnv, type Project, type StackConfig } from "./project";
import { lines } from "./provider-server";

/** The engine's default `--parallel`: no limit. */
export const ENGINE_DEFAULT_PARALLEL = 2147483647;

/** How to run a program once. */
export interface ProgramRunOptions {
  project: Project;
  stack: string;
  config: StackConfig;
  /** Address of the mock monitor (also used as the engine address). */
  monitorAddress: string;
  /** Preview: `--dry-run`, unknown values stay unknown. */
  dryRun: boolean;
  onLog(stream: string, line: string): void;
}

/**
 * Runs a program as the nodejs language host does: `node @pulumi/pulumi/cmd/run` (the SDK's own
 * launcher, resolved from the program's directory) with the monitor and engine addresses, project,
 * stack, config in the environment and, for TypeScript, the SDK's ts-node registration. Type checking
 * is left to `tsc` (`PULUMI_NODEJS_TRANSPILE_ONLY=true`) to spare a shared machine's CPU.
 *
 * @returns the program's exit code (0 when every registration succeeded).
 */
export function runProgram(o: ProgramRunOptions): Promise<number> {
  const run = require.resolve("@pulumi/pulumi/cmd/run", { paths: [o.project.dir] });
  const args = [
    run,
    `--monitor=${o.monitorAddress}`,
    `--engine=${o.monitorAddress}`,
    `--project=${o.project.name}`,
    `--stack=${o.stack}`,
    `--pwd=${o.project.dir}`,
    `--root-directory=${o.project.dir}`,
    `--parallel=${ENGINE_DEFAULT_PARALLEL}`,
    ...(o.dryRun ? ["--dry-run"] : []),
    o.project.main,
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...configEnv(o.config),
    PULUMI_NODEJS_TYPESCRIPT: String(o.project.typescript),
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
  };
  // Settings of the process the harness runs in must not leak into the program's.
  for (const k of Object.keys(env))
    if (k.startsWith("PULUMI_NODEJS_") && !["PULUMI_NODEJS_TYPESCRIPT", "PULUMI_NODEJS_TRANSPILE_ONLY"].includes(k)) delete env[k];
  delete env.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: o.project.dir, env, stdio: ["ignore", "pipe", "pipe"] });
    lines(child.stdout!, (l) => o.onLog("program stdout", l));
    lines(child.stderr!, (l) => o.onLog("program stderr", l));
    child.once("error", reject);
    child.once("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

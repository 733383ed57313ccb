/**
 * `pulumi up|preview|refresh|destroy` of a project directory with the real Pulumi CLI, the program
 * run through the Automation API's inline-program path.
 *
 *   node --import tsx scripts/pulumi-inline.ts --project DIR --stack NAME --state DIR \
 *     [--config FILE.json] [--result FILE.json] -- OP [--target URN]... [--target-dependents] \
 *     [--parallel N] [--refresh] [--expect-no-changes] [--diff]
 *
 * Why this and not `pulumi up` in DIR: `pulumi up` starts the Node.js language host
 * `pulumi-language-nodejs`, a Go program in its own module (sdk/nodejs/cmd/pulumi-language-nodejs)
 * that the Go module proxy reachable here does not serve. The Automation API runs the same program
 * in this process behind the SDK's own language server and starts the real CLI with `--client` to
 * reach it, so no language host is needed. Everything else is what `pulumi up` does: the CLI's
 * engine, its checkpoint and secrets manager, its display, and the dynamic-provider plugin
 * `pulumi-resource-pulumi-nodejs` from `@pulumi/pulumi`.
 *
 * DIR holds `Pulumi.yaml` and `index.ts` (the program, loaded with require: run this under tsx).
 * The state directory holds the local file backend (`backend/`), `PULUMI_HOME` (`home/`) and the
 * workspace (`work/<project>`: Pulumi.yaml, Pulumi.<stack>.yaml holding exactly the config of
 * `--config`, `node_modules` linked to this repository's). Nothing is written to DIR and nothing
 * goes over the network (see `offlineEnv`).
 *
 * Prints the CLI's own output; exits with the CLI's exit code. `--result` receives a JSON record:
 * exit code, summary, and one entry per engine step event (op, urn, type, diffs).
 *
 * SIGINT (Ctrl-C reaches the whole process group) is only noted here: the CLI gets it too and
 * cancels the update gracefully, and this process keeps serving the program until the CLI exits.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { CommandError, LocalWorkspace, PulumiCommand, type EngineEvent } from "@pulumi/pulumi/automation";
import { offlineEnv, pulumiCli, workDirOf } from "./real-engine";

interface Args {
  project: string;
  stack: string;
  state: string;
  config?: string;
  result?: string;
  op: string;
  rest: string[];
}

function parse(argv: string[]): Args {
  const a: Partial<Args> = {};
  const dash = argv.indexOf("--");
  if (dash < 0) throw new Error("usage: pulumi-inline.ts --project DIR --stack NAME --state DIR [--config F] [--result F] -- OP [flags]");
  const own = argv.slice(0, dash);
  for (let i = 0; i < own.length; i += 2) {
    const k = own[i].replace(/^--/, "") as keyof Args;
    (a as Record<string, string>)[k] = own[i + 1];
  }
  const [op, ...rest] = argv.slice(dash + 1);
  if (!a.project || !a.stack || !a.state || !op) throw new Error("--project, --stack, --state and an operation are required");
  return { ...(a as Args), project: path.resolve(a.project), state: path.resolve(a.state), op, rest };
}

/** The CLI flags this runner passes on, as Automation API options. */
function options(rest: string[]) {
  const o: {
    target?: string[];
    targetDependents?: boolean;
    parallel?: number;
    refresh?: boolean;
    expectNoChanges?: boolean;
    diff?: boolean;
  } = {};
  for (let i = 0; i < rest.length; i++) {
    const f = rest[i];
    if (f === "--target") (o.target ??= []).push(rest[++i]);
    else if (f === "--target-dependents") o.targetDependents = true;
    else if (f === "--parallel") o.parallel = Number(rest[++i]);
    else if (f === "--refresh") o.refresh = true;
    else if (f === "--expect-no-changes") o.expectNoChanges = true;
    else if (f === "--diff") o.diff = true;
    else throw new Error(`flag not passed on by this runner: ${f}`);
  }
  return o;
}

/** `name:` of a Pulumi.yaml (the one field read here). */
function projectName(dir: string): string {
  const m = /^name:\s*(\S+)/m.exec(readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"));
  if (!m) throw new Error(`${dir}/Pulumi.yaml has no name`);
  return m[1];
}

async function main(): Promise<number> {
  process.on("SIGINT", () => process.stderr.write("pulumi-inline: SIGINT: the CLI cancels the update; waiting for it to finish\n"));
  const a = parse(process.argv.slice(2));
  const cli = pulumiCli();
  const env = offlineEnv(a.state, cli);
  Object.assign(process.env, env);
  const name = projectName(a.project);
  const work = workDirOf(a.state, a.project);

  const programFile = ["index.ts", "index.js"].map((f) => path.join(a.project, f)).find((f) => existsSync(f));
  if (!programFile) throw new Error(`${a.project} has no index.ts or index.js`);
  const program = async () => require(programFile) as Record<string, unknown>;
  const pulumiCommand = await PulumiCommand.get({ root: path.dirname(path.dirname(cli)), skipVersionCheck: false });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: a.stack, projectName: name, program },
    { workDir: work, envVars: env, pulumiCommand },
  );
  if (a.config) {
    const cfg = JSON.parse(readFileSync(a.config, "utf8")) as Record<string, unknown>;
    // The stack's config becomes exactly this: keys left from an earlier run are removed.
    const stale = Object.keys(await stack.getAllConfig()).filter((k) => k.startsWith(`${name}:`) && !(k.slice(name.length + 1) in cfg));
    if (stale.length) await stack.removeAllConfig(stale);
    await stack.setAllConfig(
      Object.fromEntries(Object.entries(cfg).map(([k, v]) => [`${name}:${k}`, { value: typeof v === "string" ? v : JSON.stringify(v) }])),
    );
  }

  const events: { op: string; urn: string; type: string; diffs?: string[]; phase: "pre" | "outputs" | "failed" }[] = [];
  const onEvent = (e: EngineEvent) => {
    const pre = e.resourcePreEvent?.metadata;
    const outs = e.resOutputsEvent?.metadata;
    const failed = e.resOpFailedEvent?.metadata;
    const m = pre ?? outs ?? failed;
    if (m) events.push({ op: m.op, urn: m.urn, type: m.type, diffs: m.diffs, phase: pre ? "pre" : outs ? "outputs" : "failed" });
  };
  const onOutput = (s: string) => process.stdout.write(s);
  const common = { onOutput, onEvent, color: "never" as const, ...options(a.rest) };
  let code = 0;
  let summary: unknown;
  let stderr = "";
  try {
    if (a.op === "up") summary = (await stack.up(common)).summary;
    else if (a.op === "preview") summary = (await stack.preview(common)).changeSummary;
    else if (a.op === "refresh") summary = (await stack.refresh(common)).summary;
    else if (a.op === "destroy") summary = (await stack.destroy(common)).summary;
    else throw new Error(`unknown operation ${a.op}: up, preview, refresh or destroy`);
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    const r = (e as unknown as { commandResult: { code: number; stderr: string } }).commandResult;
    code = r.code || 1;
    stderr = r.stderr;
    process.stderr.write(stderr);
  }
  if (a.result) writeFileSync(a.result, JSON.stringify({ op: a.op, exitCode: code, summary, events, stderr }, null, 2));
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`pulumi-inline: ${(e as Error).stack ?? e}\n`);
    process.exit(2);
  },
);

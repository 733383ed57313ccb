/**
 * Warnings from the provider process to the engine, so that `pulumi up` and `pulumi refresh` show
 * them, not only an output nobody exports.
 *
 * Why not `pulumi.log.warn`: in the dynamic-provider process the SDK has no engine connection (it
 * reads the engine address from PULUMI_NODEJS_ENGINE, which only the program's language host
 * sets), so `pulumi.log.warn` falls back to `console.warn` there. The engine does pass its address
 * to every provider plugin as the first argument, and @pulumi/pulumi 3.241.0's
 * cmd/dynamic-provider/index.js ignores it; this module uses it with the SDK's own Engine gRPC
 * client (`Engine.Log`, severity WARNING). The dynamic-provider protocol does not hand the URN to
 * create/read/update, so each message names the resource type and id instead of being attached to
 * a URN.
 */
import { createRequire } from "node:module";

/** Where warnings go: a function that delivers one message. */
export type WarningSink = (message: string) => Promise<void>;

let override: WarningSink | undefined;
let engineSink: WarningSink | null | undefined;

/** Replaces the sink (tests); `undefined` goes back to the engine (or stderr outside a provider). */
export function setWarningSink(sink: WarningSink | undefined): void {
  override = sink;
}

/**
 * The engine's address when this process is the dynamic-provider plugin (`node .../cmd/dynamic-provider
 * <engine address>`), else undefined.
 */
export function providerEngineAddress(
  mainFile: string | undefined = require.main?.filename,
  argv: readonly string[] = process.argv,
): string | undefined {
  if (!mainFile || !/[\\/]cmd[\\/]dynamic-provider([\\/]index\.js)?$/.test(mainFile)) return undefined;
  const addr = argv[2];
  return addr && /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(addr) ? addr : undefined;
}

function stderrSink(message: string): Promise<void> {
  process.stderr.write(`warning: ${message}\n`);
  return Promise.resolve();
}

function makeEngineSink(addr: string): WarningSink | null {
  try {
    const sdk = createRequire(require.resolve("@pulumi/pulumi/package.json"));
    const grpc = sdk("@grpc/grpc-js");
    const rpc = sdk("./proto/engine_grpc_pb");
    const pb = sdk("./proto/engine_pb");
    const client = new rpc.EngineClient(addr, grpc.credentials.createInsecure());
    return (message: string) =>
      new Promise<void>((resolve) => {
        const req = new pb.LogRequest();
        req.setSeverity(pb.LogSeverity.WARNING);
        req.setMessage(message);
        req.setUrn("");
        req.setStreamid(0);
        req.setEphemeral(false);
        // A log that cannot be delivered must not fail the operation: stderr instead.
        const timer = setTimeout(() => stderrSink(message).then(resolve), 10_000);
        client.log(req, { deadline: Date.now() + 10_000 }, (err: unknown) => {
          clearTimeout(timer);
          if (err) void stderrSink(message);
          resolve();
        });
      });
  } catch {
    return null;
  }
}

function sink(): WarningSink {
  if (override) return override;
  if (engineSink === undefined) {
    const addr = providerEngineAddress();
    engineSink = addr ? makeEngineSink(addr) : null;
  }
  return engineSink ?? stderrSink;
}

/**
 * Sends each warning to the engine at warning level, prefixed with `<type> <id>: `. Never throws:
 * the operation's result does not depend on its warnings being delivered.
 */
export async function logWarnings(type: string, id: string, warnings: unknown): Promise<void> {
  if (!Array.isArray(warnings)) return;
  const deliver = sink();
  for (const w of warnings) {
    if (typeof w !== "string" || w === "") continue;
    try {
      await deliver(`${type} ${id}: ${w}`);
    } catch {
      // A broken sink is not the resource's failure.
    }
  }
}

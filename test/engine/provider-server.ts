import { spawn, type ChildProcess } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import type { Props } from "./wire";

/** Where the SDK's dynamic-provider server lives (the process the engine starts for `pulumi-nodejs`). */
export function dynamicProviderScript(fromDir: string): string {
  return require.resolve("@pulumi/pulumi/cmd/dynamic-provider/index.js", { paths: [fromDir] });
}

/** What `Diff` answered, as the engine reads it. */
export interface DiffAnswer {
  /** `DIFF_UNKNOWN` (0), `DIFF_NONE` (1) or `DIFF_SOME` (2). */
  changes: "unknown" | "none" | "some";
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/** Identifies the resource a call is about. */
export interface Target {
  urn: string;
  type: string;
  name: string;
}

/** A gRPC error from a provider call, with the method that failed. */
export class ProviderCallError extends Error {
  constructor(
    readonly method: string,
    readonly target: Target,
    message: string,
  ) {
    super(message);
  }
}

const toStruct = (p: Props) => Struct.fromJavaScript(p as Record<string, never>);
const fromStruct = (s: Struct | undefined): Props => (s ? (s.toJavaScript() as Props) : {});

/**
 * The SDK's dynamic-provider server, started as the engine starts it (`node .../cmd/dynamic-provider
 * <engine-address>`, cwd = the program's directory, port read from its first line of stdout) and
 * driven over gRPC with the engine's requests. Every other line it prints is passed to `onLog`.
 */
export class ProviderServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: provrpc.ResourceProviderClient,
  ) {}

  /** Starts the server and calls `Configure` (which it must receive first). */
  static async start(opts: {
    cwd: string;
    engineAddress: string;
    config: Props;
    onLog: (stream: string, line: string) => void;
  }): Promise<ProviderServer> {
    const script = dynamicProviderScript(opts.cwd);
    const child = spawn(process.execPath, [script, opts.engineAddress], {
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env },
    });
    const port = await new Promise<number>((resolve, reject) => {
      let first = true;
      let buf = "";
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (first) {
            first = false;
            const n = Number(line.trim());
            if (Number.isInteger(n) && n > 0) resolve(n);
            else reject(new Error(`dynamic-provider server printed "${line}" instead of its port`));
          } else opts.onLog("provider stdout", line);
        }
      });
      lines(child.stderr!, (l) => opts.onLog("provider stderr", l));
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`dynamic-provider server exited (code ${code}) before printing its port`)));
    });
    const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const server = new ProviderServer(child, client);
    const req = new provproto.ConfigureRequest();
    req.setArgs(toStruct(opts.config));
    req.setAcceptsecrets(true);
    req.setAcceptresources(true);
    req.setSendsOldInputs(true);
    req.setSendsOldInputsToDelete(true);
    const resp = await server.call<provproto.ConfigureResponse>("configure", req, {
      urn: "",
      type: "pulumi:providers:pulumi-nodejs",
      name: "default",
    });
    if (resp.getAcceptsecrets())
      throw new Error("dynamic-provider server accepts secrets; the harness strips them on the assumption that it does not");
    return server;
  }

  private call<R>(method: string, req: unknown, target: Target): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, (r: unknown, cb: (e: grpc.ServiceError | null, v: R) => void) => void>)[method];
      fn.call(this.client, req, (err, v) => (err ? reject(new ProviderCallError(method, target, err.details || err.message)) : resolve(v)));
    });
  }

  /** `Check(olds = stored inputs, news = program inputs)`: checked inputs and failures. */
  async check(t: Target, olds: Props, news: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }> {
    const req = new provproto.CheckRequest();
    req.setUrn(t.urn);
    req.setType(t.type);
    req.setName(t.name);
    req.setOlds(toStruct(olds));
    req.setNews(toStruct(news));
    const r = await this.call<provproto.CheckResponse>("check", req, t);
    return {
      inputs: fromStruct(r.getInputs()),
      failures: r.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  /** `Diff(olds = stored OUTPUTS, news = checked inputs, oldInputs = stored inputs)`. */
  async diff(t: Target, id: string, olds: Props, news: Props, oldInputs: Props): Promise<DiffAnswer> {
    const req = new provproto.DiffRequest();
    req.setUrn(t.urn);
    req.setType(t.type);
    req.setName(t.name);
    req.setId(id);
    req.setOlds(toStruct(olds));
    req.setNews(toStruct(news));
    req.setOldInputs(toStruct(oldInputs));
    const r = await this.call<provproto.DiffResponse>("diff", req, t);
    const c = r.getChanges();
    return {
      changes:
        c === provproto.DiffResponse.DiffChanges.DIFF_NONE
          ? "none"
          : c === provproto.DiffResponse.DiffChanges.DIFF_SOME
            ? "some"
            : "unknown",
      replaces: r.getReplacesList(),
      deleteBeforeReplace: r.getDeletebeforereplace(),
    };
  }

  /** `Create(properties = checked inputs)`. */
  async create(t: Target, props: Props): Promise<{ id: string; outputs: Props }> {
    const req = new provproto.CreateRequest();
    req.setUrn(t.urn);
    req.setType(t.type);
    req.setName(t.name);
    req.setProperties(toStruct(props));
    req.setPreview(false);
    const r = await this.call<provproto.CreateResponse>("create", req, t);
    return { id: r.getId(), outputs: fromStruct(r.getProperties()) };
  }

  /** `Read(properties = stored outputs, inputs = stored inputs)`; an empty id means gone. */
  async read(t: Target, id: string, props: Props, inputs: Props): Promise<{ id: string; outputs: Props; inputs?: Props }> {
    const req = new provproto.ReadRequest();
    req.setUrn(t.urn);
    req.setType(t.type);
    req.setName(t.name);
    req.setId(id);
    req.setProperties(toStruct(props));
    req.setInputs(toStruct(inputs));
    const r = await this.call<provproto.ReadResponse>("read", req, t);
    const ins = r.getInputs();
    return {
      id: r.getId(),
      outputs: fromStruct(r.getProperties()),
      inputs: ins && ins.getFieldsMap().getLength() > 0 ? fromStruct(ins) : undefined,
    };
  }

  /** `Update(olds = stored OUTPUTS, news = checked inputs)`. */
  async update(t: Target, id: string, olds: Props, news: Props, oldInputs: Props): Promise<Props> {
    const req = new provproto.UpdateRequest();
    req.setUrn(t.urn);
    req.setType(t.type);
    req.setName(t.name);
    req.setId(id);
    req.setOlds(toStruct(olds));
    req.setNews(toStruct(news));
    req.setOldInputs(toStruct(oldInputs));
    req.setPreview(false);
    const r = await this.call<provproto.UpdateResponse>("update", req, t);
    return fromStruct(r.getProperties());
  }

  /** `Delete(properties = stored outputs)`. */
  async delete(t: Target, id: string, props: Props, oldInputs: Props): Promise<void> {
    const req = new provproto.DeleteRequest();
    req.setUrn(t.urn);
    req.setType(t.type);
    req.setName(t.name);
    req.setId(id);
    req.setProperties(toStruct(props));
    req.setOldInputs(toStruct(oldInputs));
    await this.call("delete", req, t);
  }

  /** Closes the channel and stops the process, as the engine does at the end of an operation. */
  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill("SIGTERM");
    await gone;
  }
}

/** Calls `onLine` for each line of a stream. */
export function lines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  stream.on("end", () => {
    if (buf) onLine(buf);
    buf = "";
  });
}

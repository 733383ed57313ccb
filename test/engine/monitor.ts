import * as grpc from "@grpc/grpc-js";
import * as enginerpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as engineproto from "@pulumi/pulumi/proto/engine_pb";
import * as resrpc from "@pulumi/pulumi/proto/resource_grpc_pb";
import * as resproto from "@pulumi/pulumi/proto/resource_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import type { Props } from "./wire";

/** One `RegisterResource` call from the program, in the wire form the engine receives. */
export interface Registration {
  type: string;
  name: string;
  /** Parent URN ("" for the stack itself). */
  parent: string;
  custom: boolean;
  /** Inputs with secret wrappers and, in preview, unknown sentinels, as serialized by the SDK. */
  inputs: Props;
  /** URNs the resource depends on (`dependsOn` and the resources its inputs came from). */
  dependencies: string[];
  /** The `additionalSecretOutputs` resource option. */
  additionalSecretOutputs: string[];
  /** The `deleteBeforeReplace` resource option, when set. */
  deleteBeforeReplace?: boolean;
  /** Explicit provider reference (empty: the default provider of the type's package). */
  provider: string;
  /** The SDK accepts a failed step as a result instead of an RPC error. */
  supportsResultReporting: boolean;
}

/** What the engine answers a registration with. */
export interface RegistrationResult {
  urn: string;
  /** Empty while unknown (preview of a create). */
  id: string;
  /** Output properties, secret-wrapped, with unknown sentinels in preview. */
  outputs: Props;
  /** The step failed: reported as `Result.FAIL` (outputs unknown), as the engine does. */
  failed?: boolean;
}

/** The engine side of the program's RPCs. */
export interface MonitorHandlers {
  register(r: Registration): Promise<RegistrationResult>;
  registerOutputs(urn: string, outputs: Props): void;
  /** `Engine.Log` from the program (diagnostics, `pulumi.log.*`, errors). */
  log(severity: string, message: string, urn: string): void;
}

/** Features this mock monitor tells the SDK it supports; the SDK then serializes accordingly. */
const FEATURES: Record<string, boolean> = {
  secrets: true,
  // Plain values are simpler to read and are what a monitor without these features receives.
  resourceReferences: false,
  outputValues: false,
  deletedWith: false,
  replaceWith: false,
  aliasSpecs: false,
  transforms: false,
  invokeTransforms: false,
  parameterization: false,
  resourceHooks: false,
  errorHooks: false,
};

const SEVERITY = ["debug", "info", "warning", "error"];

/**
 * The mock engine endpoints a Pulumi program talks to: the ResourceMonitor (registrations) and the
 * Engine (logs, root resource), served over gRPC on loopback exactly where the CLI would serve them,
 * so that the program runs with the SDK's own runtime and launcher, unchanged.
 */
export class MockMonitor {
  private root = "";

  private constructor(
    private readonly server: grpc.Server,
    /** `127.0.0.1:<port>`: both `--monitor` and `--engine`. */
    readonly address: string,
  ) {}

  /** Starts serving; every call is passed to `h`. */
  static async start(h: MonitorHandlers): Promise<MockMonitor> {
    const server = new grpc.Server();
    const self: { m?: MockMonitor } = {};
    const fail = (cb: grpc.sendUnaryData<never>, e: unknown) =>
      cb({ code: grpc.status.UNKNOWN, details: (e as Error).message ?? String(e) }, null);

    server.addService(resrpc.ResourceMonitorService, {
      supportsFeature(
        call: grpc.ServerUnaryCall<resproto.SupportsFeatureRequest, resproto.SupportsFeatureResponse>,
        cb: grpc.sendUnaryData<resproto.SupportsFeatureResponse>,
      ) {
        const r = new resproto.SupportsFeatureResponse();
        r.setHassupport(FEATURES[call.request.getId()] ?? false);
        cb(null, r);
      },
      registerResource(
        call: grpc.ServerUnaryCall<resproto.RegisterResourceRequest, resproto.RegisterResourceResponse>,
        cb: grpc.sendUnaryData<resproto.RegisterResourceResponse>,
      ) {
        const q = call.request;
        const reg: Registration = {
          type: q.getType(),
          name: q.getName(),
          parent: q.getParent(),
          custom: q.getCustom(),
          inputs: (q.getObject()?.toJavaScript() ?? {}) as Props,
          dependencies: q.getDependenciesList(),
          additionalSecretOutputs: q.getAdditionalsecretoutputsList(),
          deleteBeforeReplace: q.getDeletebeforereplacedefined() ? q.getDeletebeforereplace() : undefined,
          provider: q.getProvider(),
          supportsResultReporting: q.getSupportsresultreporting(),
        };
        h.register(reg).then(
          (res) => {
            const r = new resproto.RegisterResourceResponse();
            r.setUrn(res.urn);
            r.setId(res.id);
            r.setObject(Struct.fromJavaScript(res.outputs as Record<string, never>));
            if (res.failed) r.setResult(resproto.Result.FAIL);
            cb(null, r);
          },
          (e) => fail(cb as never, e),
        );
      },
      registerResourceOutputs(call: grpc.ServerUnaryCall<resproto.RegisterResourceOutputsRequest, Empty>, cb: grpc.sendUnaryData<Empty>) {
        h.registerOutputs(call.request.getUrn(), (call.request.getOutputs()?.toJavaScript() ?? {}) as Props);
        cb(null, new Empty());
      },
      signalAndWaitForShutdown(_call: unknown, cb: grpc.sendUnaryData<Empty>) {
        cb(null, new Empty());
      },
    });

    server.addService(enginerpc.EngineService, {
      log(call: grpc.ServerUnaryCall<engineproto.LogRequest, Empty>, cb: grpc.sendUnaryData<Empty>) {
        h.log(SEVERITY[call.request.getSeverity()] ?? "info", call.request.getMessage(), call.request.getUrn());
        cb(null, new Empty());
      },
      getRootResource(_call: unknown, cb: grpc.sendUnaryData<engineproto.GetRootResourceResponse>) {
        const r = new engineproto.GetRootResourceResponse();
        r.setUrn(self.m?.root ?? "");
        cb(null, r);
      },
      setRootResource(
        call: grpc.ServerUnaryCall<engineproto.SetRootResourceRequest, engineproto.SetRootResourceResponse>,
        cb: grpc.sendUnaryData<engineproto.SetRootResourceResponse>,
      ) {
        if (self.m) self.m.root = call.request.getUrn();
        cb(null, new engineproto.SetRootResourceResponse());
      },
    });

    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    self.m = new MockMonitor(server, `127.0.0.1:${port}`);
    return self.m;
  }

  /** Stops serving. */
  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server.tryShutdown(() => r()));
  }
}

import { MockMonitor, type Registration, type RegistrationResult } from "./monitor";
import { runProgram } from "./program";
import { loadProject, loadStackConfig, type Project } from "./project";
import { ProviderServer, type Target } from "./provider-server";
import { emptyState, nameOf, StateFile, type ResourceState, type StackState } from "./state";
import { annotateSecrets, changedKeys, isSecret, markSecret, reveal, revealProps, secret, type Props } from "./wire";

/** The stack resource every program registers first. */
export const STACK_TYPE = "pulumi:pulumi:Stack";
/** Type-token prefix of resources served by the SDK's dynamic-provider server. */
export const DYNAMIC_PREFIX = "pulumi-nodejs:dynamic";
/** Provider-internal inputs that are not shown in diffs. */
const HIDDEN_KEYS = ["__provider"];

/** Kinds of operation, as the CLI names them. */
export type OperationKind = "up" | "preview" | "refresh" | "destroy";

/** What happened (or, in preview, would happen) to one resource. */
export interface Step {
  op: "create" | "same" | "update" | "replace" | "delete" | "refresh";
  urn: string;
  type: string;
  name: string;
  /** Changed top-level properties (inputs for up/preview, outputs for refresh). */
  diffs: string[];
  /** Properties that forced a replacement. */
  replaces?: string[];
  /** For refresh: the object is gone from the host and leaves the state. */
  gone?: boolean;
  /** For refresh: the outputs differ from the stored ones (drift). */
  drift?: boolean;
  /** The provider's error, when the step failed. */
  error?: string;
}

/** One provider gRPC call the engine made. */
export interface ProviderCall {
  method: "check" | "diff" | "create" | "read" | "update" | "delete";
  urn: string;
}

/** One line of diagnostics: the program's output, `Engine.Log`, the provider server's output. */
export interface LogLine {
  source: string;
  line: string;
}

/** Outcome of one operation. */
export interface OperationResult {
  kind: OperationKind;
  ok: boolean;
  steps: Step[];
  errors: string[];
  /** Provider calls in the order they were made. */
  calls: ProviderCall[];
  /** Most provider calls in flight at once. */
  maxInFlight: number;
  /** Stack outputs the program registered (secret-wrapped). */
  outputs: Props;
  /** Every registration the program made (up/preview), as the engine received it. */
  registrations: (Registration & { urn: string })[];
  /** Diagnostics the CLI shows by default: program and provider output, info/warning/error logs. */
  logs: LogLine[];
  /**
   * The SDK's debug-level `Engine.Log` lines, shown only by `pulumi up --debug`. Kept apart: the
   * SDK traces every RegisterResource response there, secret outputs included, in plain text.
   */
  debugLogs: LogLine[];
  /** Program exit code (up/preview). */
  exitCode?: number;
}

/** How to set an engine up. */
export interface EngineOptions {
  /** Directory with `Pulumi.yaml`. */
  projectDir: string;
  stack: string;
  /** The stack's state file (created on first write). */
  stateFile: string;
  /** Config on top of `Pulumi.<stack>.yaml`; `{secret: v}` marks a secret value. */
  config?: Record<string, unknown>;
}

type Mutable = {
  steps: Step[];
  errors: string[];
  calls: ProviderCall[];
  inFlight: number;
  maxInFlight: number;
  logs: LogLine[];
  debugLogs: LogLine[];
  outputs: Props;
  registrations: (Registration & { urn: string })[];
};

/**
 * A small stand-in for the Pulumi deployment engine, enough to drive a program and the SDK's
 * dynamic-provider server through a stack's life the way `pulumi up`, `preview`, `refresh` and
 * `destroy` do. Engine rules it keeps:
 * - the program runs under the SDK's launcher against a mock resource monitor; each registration is
 *   handled as it arrives, so independent resources are processed in parallel (engine default);
 * - `Check(olds = stored inputs, news)`, then `Create` for a new resource, else
 *   `Diff(olds = stored OUTPUTS, news = checked inputs)`: none → nothing; replaces → create the new
 *   one then delete the old one after the program (or delete first when the diff says so); else `Update`;
 * - resources the program no longer registers are deleted after it finishes, dependents first;
 * - preview runs only `Check` and `Diff`, with unknown values as the sentinel string;
 * - refresh runs `Read`: an empty id drops the resource, returned inputs replace the stored ones;
 * - the provider says it does not accept secrets: secret wrappers are removed before every call and
 *   outputs are marked secret where an input of the same name was, or by `additionalSecretOutputs`;
 * - state is written after every step, secrets encrypted.
 * What it does not do: plugins other than `pulumi-nodejs`, explicit providers, remote components,
 * aliases, imports, protect, ignoreChanges, targets, the `--continue-on-error` mode.
 */
export class Engine {
  readonly project: Project;
  readonly state: StateFile;
  /** Every log line of every operation (see {@link OperationResult.logs}), for scanning. */
  readonly allLogs: LogLine[] = [];
  /** Every debug line of every operation (see {@link OperationResult.debugLogs}). */
  readonly allDebugLogs: LogLine[] = [];
  private config: Record<string, unknown>;

  constructor(readonly opts: EngineOptions) {
    this.project = loadProject(opts.projectDir);
    this.state = new StateFile(opts.stateFile);
    this.config = { ...(opts.config ?? {}) };
  }

  /** Replaces the config overrides (as `pulumi config set` between runs would). */
  setConfig(config: Record<string, unknown>): void {
    this.config = { ...config };
  }

  /** The stack's state now. */
  current(): StackState {
    return this.state.exists() ? this.state.load() : emptyState(this.project.name, this.opts.stack);
  }

  /** `pulumi up --skip-preview`. */
  up(): Promise<OperationResult> {
    return this.deploy(false);
  }

  /** `pulumi preview`. */
  preview(): Promise<OperationResult> {
    return this.deploy(true);
  }

  /** `pulumi refresh --yes`. */
  async refresh(): Promise<OperationResult> {
    return this.operate("refresh", async (m, provider, state, save) => {
      await Promise.all(
        state.resources
          .filter((r) => r.custom && !r.delete)
          .map(async (r) => {
            const t = target(r);
            try {
              const got = await call(m, "read", r.urn, () =>
                provider().then((p) => p.read(t, r.id, revealProps(r.outputs), revealProps(r.inputs))),
              );
              if (!got.id) {
                state.resources = state.resources.filter((x) => x !== r);
                m.steps.push({ op: "refresh", urn: r.urn, type: r.type, name: t.name, diffs: [], gone: true });
              } else {
                const outputs = markSecret(annotateSecrets(got.outputs, r.outputs) as Props, r.additionalSecretOutputs);
                const inputs = got.inputs ? (annotateSecrets(got.inputs, r.inputs) as Props) : r.inputs;
                const diffs = changedKeys(r.outputs, outputs, HIDDEN_KEYS);
                Object.assign(r, { id: got.id, outputs, inputs });
                m.steps.push({ op: "refresh", urn: r.urn, type: r.type, name: t.name, diffs, drift: diffs.length > 0 });
              }
              save();
            } catch (e) {
              fail(m, r.urn, "read", e);
            }
          }),
      );
    });
  }

  /** `pulumi destroy --yes`. */
  async destroy(): Promise<OperationResult> {
    return this.operate("destroy", async (m, provider, state, save) => {
      await deleteAll(m, provider, state, [...state.resources], save);
    });
  }

  private async deploy(preview: boolean): Promise<OperationResult> {
    const kind: OperationKind = preview ? "preview" : "up";
    return this.operate(kind, async (m, provider, state, save, monitorFor) => {
      const registered = new Set<string>();
      const pending: Promise<unknown>[] = [];
      const olds = new Map(state.resources.filter((r) => !r.delete).map((r) => [r.urn, r]));
      const handle = async (reg: Registration): Promise<RegistrationResult> => {
        const urn = makeUrn(this.opts.stack, this.project.name, reg);
        if (registered.has(urn)) throw new Error(`duplicate resource URN ${urn}`);
        registered.add(urn);
        m.registrations.push({ ...reg, urn });
        const old = olds.get(urn);
        const put = (r: ResourceState) => {
          if (preview) return;
          const i = state.resources.findIndex((x) => x.urn === urn && !x.delete);
          if (i >= 0) state.resources[i] = r;
          else state.resources.push(r);
          save();
        };
        const base = {
          urn,
          type: reg.type,
          custom: reg.custom,
          parent: reg.parent,
          dependencies: reg.dependencies,
          additionalSecretOutputs: reg.additionalSecretOutputs,
        };
        if (!reg.custom) {
          // A component (the stack included) has no provider: the engine only records it.
          put({ ...base, id: "", inputs: {}, outputs: old?.outputs ?? {} });
          m.steps.push({ op: old ? "same" : "create", urn, type: reg.type, name: reg.name, diffs: [] });
          return { urn, id: "", outputs: {} };
        }
        if (!reg.type.startsWith(`${DYNAMIC_PREFIX}:`) && !reg.type.startsWith(`${DYNAMIC_PREFIX}/`)) {
          throw new Error(`${urn}: the harness serves only dynamic resources (pulumi-nodejs), not ${reg.type}`);
        }
        const t: Target = { urn, type: reg.type, name: reg.name };
        const p = await provider();
        const checked = await call(m, "check", urn, () => p.check(t, revealProps(old?.inputs ?? {}), revealProps(reg.inputs)));
        if (checked.failures.length) {
          throw new Error(
            `${reg.type} resource '${reg.name}' has a problem: ${checked.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`,
          );
        }
        const inputs = annotateSecrets(checked.inputs, reg.inputs) as Props;
        const secretOuts = (o: Props) => markSecret(annotateSecrets(o, inputs) as Props, reg.additionalSecretOutputs);
        const create = async (): Promise<RegistrationResult> => {
          const made = await call(m, "create", urn, () => p.create(t, revealProps(inputs)));
          const outputs = secretOuts(made.outputs);
          put({ ...base, id: made.id, inputs, outputs });
          return { urn, id: made.id, outputs };
        };
        if (!old) {
          m.steps.push({ op: "create", urn, type: reg.type, name: reg.name, diffs: [] });
          if (preview) return { urn, id: "", outputs: secretOuts(inputs) };
          return create();
        }
        const d = await call(m, "diff", urn, () =>
          p.diff(t, old.id, revealProps(old.outputs), revealProps(inputs), revealProps(old.inputs)),
        );
        const diffs = changedKeys(old.inputs, inputs, HIDDEN_KEYS);
        const changes = d.changes === "some" || (d.changes === "unknown" && diffs.length > 0);
        if (!changes) {
          m.steps.push({ op: "same", urn, type: reg.type, name: reg.name, diffs: [] });
          put({ ...old, ...base, inputs });
          return { urn, id: old.id, outputs: old.outputs };
        }
        if (d.replaces.length) {
          m.steps.push({ op: "replace", urn, type: reg.type, name: reg.name, diffs, replaces: d.replaces });
          if (preview) return { urn, id: "", outputs: secretOuts(inputs) };
          // The resource option or the provider's diff can each ask for the old object to go first.
          if (reg.deleteBeforeReplace === true || d.deleteBeforeReplace) {
            await call(m, "delete", urn, () => p.delete(t, old.id, revealProps(old.outputs), revealProps(old.inputs)));
            state.resources = state.resources.filter((x) => x !== old);
            save();
          } else {
            old.delete = true;
            save();
          }
          return create();
        }
        m.steps.push({ op: "update", urn, type: reg.type, name: reg.name, diffs });
        if (preview) return { urn, id: old.id, outputs: secretOuts(inputs) };
        const outs = await call(m, "update", urn, () =>
          p.update(t, old.id, revealProps(old.outputs), revealProps(inputs), revealProps(old.inputs)),
        );
        const outputs = secretOuts(outs);
        put({ ...old, ...base, inputs, outputs });
        return { urn, id: old.id, outputs };
      };

      const monitor = await monitorFor({
        register: (reg) => {
          // A failed step is answered as the engine does: Result.FAIL when the SDK can take it
          // (its outputs become unknown and the program runs on), else an RPC error.
          const p = handle(reg).catch((e): RegistrationResult => {
            const urn = makeUrn(this.opts.stack, this.project.name, reg);
            fail(m, urn, reg.custom ? "step" : "register", e);
            if (!reg.supportsResultReporting) throw e;
            return { urn, id: "", outputs: {}, failed: true };
          });
          pending.push(p.catch(() => undefined));
          return p;
        },
        registerOutputs: (urn, outputs) => {
          if (urn.split("::")[2] === STACK_TYPE) m.outputs = outputs;
        },
      });
      const config = loadStackConfig(this.project, this.opts.stack, this.config);
      const exitCode = await runProgram({
        project: this.project,
        stack: this.opts.stack,
        config,
        monitorAddress: monitor.address,
        dryRun: preview,
        onLog: (source, line) => log(m, source, line),
      });
      await Promise.all(pending);
      (m as Mutable & { exitCode?: number }).exitCode = exitCode;
      if (exitCode !== 0 && m.errors.length === 0) m.errors.push(`program exited with code ${exitCode}`);
      if (m.errors.length) return;
      const doomed = state.resources.filter((r) => r.delete || !registered.has(r.urn));
      if (preview) {
        for (const r of doomed.filter((x) => !x.delete))
          m.steps.push({ op: "delete", urn: r.urn, type: r.type, name: nameOf(r.urn), diffs: [] });
        return;
      }
      await deleteAll(m, provider, state, doomed, save);
    });
  }

  /**
   * Runs one operation: starts the mock monitor when asked, starts the dynamic-provider server on
   * first use (as the engine loads a plugin when a resource first needs it), journals state, and
   * stops both at the end.
   */
  private async operate(
    kind: OperationKind,
    body: (
      m: Mutable,
      provider: () => Promise<ProviderServer>,
      state: StackState,
      save: () => void,
      monitorFor: (h: {
        register: (r: Registration) => Promise<RegistrationResult>;
        registerOutputs: (urn: string, o: Props) => void;
      }) => Promise<MockMonitor>,
    ) => Promise<void>,
  ): Promise<OperationResult> {
    const m: Mutable & { exitCode?: number } = {
      steps: [],
      errors: [],
      calls: [],
      inFlight: 0,
      maxInFlight: 0,
      logs: [],
      debugLogs: [],
      outputs: {},
      registrations: [],
    };
    const state = this.current();
    const preview = kind === "preview";
    const save = () => {
      if (!preview) this.state.save(state);
    };
    let monitor: MockMonitor | undefined;
    let server: Promise<ProviderServer> | undefined;
    const engineAddress = () => monitor?.address ?? "127.0.0.1:0";
    const config = loadStackConfig(this.project, this.opts.stack, this.config);
    const providerConfig: Props = {};
    for (const [k, v] of Object.entries(config.values)) {
      const text = typeof v === "string" ? v : JSON.stringify(v);
      providerConfig[k] = config.secretKeys.includes(k) ? secret(text) : text;
    }
    const provider = () =>
      (server ??= ProviderServer.start({
        cwd: this.project.dir,
        engineAddress: engineAddress(),
        config: providerConfig,
        onLog: (source, line) => log(m, source, line),
      }));
    try {
      await body(m, provider, state, save, async (h) => {
        monitor = await MockMonitor.start({ ...h, log: (sev, msg, urn) => log(m, `program ${sev}${urn ? ` ${nameOf(urn)}` : ""}`, msg) });
        return monitor;
      });
    } catch (e) {
      m.errors.push((e as Error).message);
    } finally {
      if (server) await server.then((s) => s.stop()).catch(() => undefined);
      if (monitor) await monitor.stop();
    }
    if (!preview && (this.state.exists() || state.resources.length)) this.state.save(state);
    this.allLogs.push(...m.logs);
    this.allDebugLogs.push(...m.debugLogs);
    return {
      kind,
      ok: m.errors.length === 0,
      steps: m.steps,
      errors: m.errors,
      calls: m.calls,
      maxInFlight: m.maxInFlight,
      outputs: m.outputs,
      registrations: m.registrations,
      logs: m.logs,
      debugLogs: m.debugLogs,
      exitCode: m.exitCode,
    };
  }
}

function target(r: ResourceState): Target {
  return { urn: r.urn, type: r.type, name: nameOf(r.urn) };
}

function log(m: Mutable, source: string, line: string): void {
  (source.startsWith("program debug") ? m.debugLogs : m.logs).push({ source, line });
}

function fail(m: Mutable, urn: string, what: string, e: unknown): void {
  const msg = `${nameOf(urn)}: ${what} failed: ${(e as Error).message ?? String(e)}`;
  if (!m.errors.includes(msg)) m.errors.push(msg);
  log(m, "engine error", msg);
}

async function call<T>(m: Mutable, method: ProviderCall["method"], urn: string, fn: () => Promise<T>): Promise<T> {
  m.calls.push({ method, urn });
  m.inFlight++;
  m.maxInFlight = Math.max(m.maxInFlight, m.inFlight);
  try {
    return await fn();
  } finally {
    m.inFlight--;
  }
}

/**
 * Deletes `doomed` from the hosts and the state, each only after everything that depends on it
 * (by `dependencies` or as its child) is gone; independent deletes run in parallel.
 */
async function deleteAll(
  m: Mutable,
  provider: () => Promise<ProviderServer>,
  state: StackState,
  doomed: ResourceState[],
  save: () => void,
): Promise<void> {
  const done = new Map<ResourceState, Promise<boolean>>();
  const dependents = (r: ResourceState) =>
    doomed.filter((x) => x !== r && !(r.delete && x.urn === r.urn) && (x.dependencies.includes(r.urn) || x.parent === r.urn));
  const run = (r: ResourceState): Promise<boolean> => {
    let p = done.get(r);
    if (!p) {
      p = (async () => {
        const ok = (await Promise.all(dependents(r).map(run))).every(Boolean);
        if (!ok) return false;
        try {
          if (r.custom) {
            await call(m, "delete", r.urn, () =>
              provider().then((s) => s.delete(target(r), r.id, revealProps(r.outputs), revealProps(r.inputs))),
            );
          }
          state.resources = state.resources.filter((x) => x !== r);
          if (!r.delete) m.steps.push({ op: "delete", urn: r.urn, type: r.type, name: nameOf(r.urn), diffs: [] });
          save();
          return true;
        } catch (e) {
          fail(m, r.urn, "delete", e);
          return false;
        }
      })();
      done.set(r, p);
    }
    return p;
  };
  await Promise.all(doomed.map(run));
}

/** The URN the engine gives a registration: `urn:pulumi:<stack>::<project>::<parent types$type>::<name>`. */
export function makeUrn(stack: string, project: string, reg: Pick<Registration, "type" | "name" | "parent">): string {
  let qualified = reg.type;
  if (reg.parent) {
    const parentType = reg.parent.split("::")[2] ?? "";
    if (parentType && parentType !== STACK_TYPE) qualified = `${parentType}$${reg.type}`;
  }
  return `urn:pulumi:${stack}::${project}::${qualified}::${reg.name}`;
}

/** True when a step's outputs hold a value in plain text that should have been secret. */
export function plainSecretOutputs(r: ResourceState): string[] {
  return r.additionalSecretOutputs.filter((k) => k in r.outputs && !isSecret(r.outputs[k]));
}

/** Revealed copy of a resource's outputs (for assertions). */
export function plainOutputs(r: ResourceState): Props {
  return reveal(r.outputs) as Props;
}

import type * as dynamic from "@pulumi/pulumi/dynamic";
import { checkWith, withoutUndefined, type CheckFailure } from "../common/check";
import { containsUnknown, UNKNOWN } from "../common/unknown";
import { ConnectionSchema } from "../connection/schema";
import { noteChange, startPreconnecting } from "../transport/preconnect";
import { announceChange, changeArrived } from "../common/announced";
import { diffInputs } from "../common/diff";
import type { BaseInputs, ResourceKind } from "../common/kind";
import { logWarnings } from "./engine-log";

/** Inputs that force a replacement on every resource: another host is another object. */
const HOST_IDENTITY = ["connection.host", "connection.port"];

/** Key under which outputs record the shape version of the state they were written with. */
export const STATE_VERSION_KEY = "stateVersion";

/** The dynamic-provider methods, as plain functions over property bags. */
export type DynamicHandlers = Required<Pick<dynamic.ResourceProvider, "check" | "diff" | "create" | "read" | "update" | "delete">>;

/** Top-level input property names of a kind (its schema is a zod object). */
export function inputKeysOf<In extends BaseInputs, Out extends object>(kind: ResourceKind<In, Out>): string[] {
  return Object.keys(kind.schema.shape);
}

/** Removes engine-private keys (`__provider`) and everything that is not an input. */
function pickInputs<In extends BaseInputs, Out extends object>(
  kind: ResourceKind<In, Out>,
  props: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of inputKeysOf(kind)) if (props[k] !== undefined) out[k] = props[k];
  return out;
}

/**
 * Stored outputs brought to the current shape and re-normalized with today's defaults, so that state
 * written by an earlier release neither fails nor shows a spurious diff. A property bag.
 */
function normalizeStored<In extends BaseInputs, Out extends object>(
  kind: ResourceKind<In, Out>,
  raw: Record<string, unknown>,
): Record<string, unknown> {
  const upgraded = kind.upgrade ? kind.upgrade({ ...raw }) : { ...raw };
  const parsed = kind.schema.safeParse(pickInputs(kind, upgraded));
  const merged: Record<string, unknown> = parsed.success ? { ...upgraded, ...parsed.data } : upgraded;
  delete merged.__provider;
  return merged;
}

/**
 * {@link normalizeStored}, typed as the kind's stored state: the one place where a bag the engine
 * kept is taken for what this package wrote into it (its inputs, re-validated above, and its outputs).
 */
function normalizeOlds<In extends BaseInputs, Out extends object>(kind: ResourceKind<In, Out>, raw: Record<string, unknown>): In & Out {
  return normalizeStored(kind, raw) as In & Out;
}

/** The `warnings` output of a kind's outputs, whatever its type (the engine log takes strings only). */
function warningsOf(outs: object): unknown {
  return "warnings" in outs ? outs.warnings : undefined;
}

function strictInputs<In extends BaseInputs, Out extends object>(kind: ResourceKind<In, Out>, props: Record<string, unknown>): In {
  const r = checkWith(kind.schema, pickInputs(kind, props));
  if (!r.ok) {
    throw new Error(`${kind.type}: invalid inputs: ${r.failures.map((f) => `${f.property}: ${f.reason}`).join("; ")}`);
  }
  return r.inputs;
}

/**
 * Wraps a {@link ResourceKind} into the dynamic-provider protocol: `check` validates and never
 * throws, `diff` compares normalized inputs without contacting the host, and the outputs of every
 * operation are the inputs plus what was observed, stamped with the state version.
 */
export function handlersFor<In extends BaseInputs, Out extends object>(kind: ResourceKind<In, Out>): DynamicHandlers {
  const stamp = (inputs: In, outs: Out) => ({ ...inputs, ...outs, [STATE_VERSION_KEY]: kind.stateVersion });
  return {
    async check(olds: Record<string, unknown>, news: Record<string, unknown>) {
      const r = checkWith(kind.schema, keepFixed(kind, olds, pickInputs(kind, news)));
      // pickInputs drops what is not an input, so unknown top-level properties (a typo such as
      // `enable`) must be refused here; engine-private keys (`__provider`) are not the program's.
      const known = new Set(inputKeysOf(kind));
      const unknown = Object.keys(news ?? {})
        .filter((k) => !known.has(k) && !k.startsWith("__") && news[k] !== undefined)
        .map((k) => ({ property: k, reason: "unknown property" }));
      // Whatever is returned goes back to the engine, which cannot serialize an undefined value.
      if (!r.ok || unknown.length)
        return { inputs: withoutUndefined(news ?? {}), failures: naming(news, [...(r.ok ? [] : r.failures), ...unknown]) };
      const extra = kind.validate ? safeValidate(kind, r.inputs) : [];
      if (extra.length) return { inputs: withoutUndefined(news), failures: naming(news, extra) };
      // No stored state: the engine will create it, through this connection.
      if (!olds || olds.connection === undefined) noteChangeThrough(kind.batchLane ?? kind.type, r.inputs.connection);
      return { inputs: withoutUndefined(r.inputs) };
    },
    async diff(_id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
      const o = normalizeStored(kind, olds);
      const d = diffInputs(o, pickInputs(kind, news), {
        inputKeys: inputKeysOf(kind),
        replaceOn: [...HOST_IDENTITY, ...kind.replaceOn],
        deleteBeforeReplace: kind.deleteBeforeReplace,
      });
      // Drift that read recorded in the outputs but the inputs cannot express still needs an update.
      const out = !d.changes && kind.repairPending?.(o) ? { ...d, changes: true } : d;
      if (out.changes) noteChangeThrough(kind.batchLane ?? kind.type, news?.connection);
      return out;
    },
    // Every kind's `warnings` output goes to the engine log too (see engine-log.ts): an output alone
    // is seen by nobody who does not export it.
    async create(props: Record<string, unknown>) {
      const inputs = strictInputs(kind, props);
      startPreconnecting();
      changeArrived(kind.batchLane ?? kind.type, inputs.connection);
      const { id, outs } = await kind.create(inputs);
      await logWarnings(kind.type, id, warningsOf(outs));
      return { id, outs: stamp(inputs, outs) };
    },
    async read(id: string, props: Record<string, unknown>) {
      const olds = normalizeOlds(kind, props ?? {});
      const r = await kind.read(id, olds);
      if (!r) return {};
      await logWarnings(kind.type, id, warningsOf(r.outs));
      return { id, props: stamp(r.inputs, r.outs), inputs: r.inputs };
    },
    async update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>) {
      const inputs = strictInputs(kind, news);
      startPreconnecting();
      changeArrived(kind.batchLane ?? kind.type, inputs.connection);
      const outs = await kind.update(id, normalizeOlds(kind, olds), inputs);
      await logWarnings(kind.type, id, warningsOf(outs));
      return { outs: stamp(inputs, outs) };
    },
    async delete(id: string, props: Record<string, unknown>) {
      startPreconnecting();
      await kind.delete(id, normalizeOlds(kind, props));
    },
  };
}

/**
 * `news` with the kind's inputs that are fixed once the object exists (`fixedOnceCreated`) as they
 * were stored: the engine passes the stored inputs as `olds` for an existing object (update and
 * replacement alike) and nothing for a new one. A stored state without such an input keeps not
 * having it, so state written before the input existed shows no change.
 */
function keepFixed<In extends BaseInputs, Out extends object>(
  kind: ResourceKind<In, Out>,
  olds: Record<string, unknown> | undefined,
  news: Record<string, unknown>,
): Record<string, unknown> {
  const fixed = kind.fixedOnceCreated ?? [];
  if (fixed.length === 0 || !olds || olds.connection === undefined) return news;
  const out = { ...news };
  for (const k of fixed) {
    if (olds[k] === undefined) delete out[k];
    else out[k] = olds[k];
  }
  return out;
}

/**
 * Adds the host to each failure's reason: in a fleet of hundreds, "connection.port: too big"
 * alone does not say which host's entry in the program is wrong.
 */
function naming(news: Record<string, unknown>, failures: CheckFailure[]): CheckFailure[] {
  const host = (news?.connection as { host?: unknown } | undefined)?.host;
  if (typeof host !== "string" || host === "" || host === UNKNOWN || host.length > 253) return failures;
  return failures.map((f) => ({ ...f, reason: `${f.reason} (host ${JSON.stringify(host)})` }));
}

function safeValidate<In extends BaseInputs>(kind: ResourceKind<In, object>, inputs: In) {
  try {
    return kind.validate!(inputs);
  } catch (e) {
    return [{ property: "(inputs)", reason: (e as Error).message }];
  }
}

/**
 * Notes a change of a resource of `lane` (its batch lane, or its type) that will go through `connection`, when it is complete: its
 * host's connection opens ahead (`transport/preconnect.ts`) and its batch may wait for it
 * (`common/announced.ts`).
 */
function noteChangeThrough(lane: string, connection: unknown): void {
  if (containsUnknown(connection)) return;
  const c = ConnectionSchema.safeParse(connection);
  if (!c.success) return;
  noteChange(c.data);
  announceChange(lane, c.data);
}

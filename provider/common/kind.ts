import type { z } from "zod";
import type { Connection } from "../connection/schema";
import type { CheckFailure } from "./check";

/** Inputs every resource has. */
export interface BaseInputs {
  connection: Connection;
}

/** What `read` found: the live state as outputs, and inputs that would produce it. */
export interface ReadOutcome<In, Out> {
  outs: Out;
  /** Inputs that describe the live state, so drift shows in the next diff. */
  inputs: In;
}

/**
 * One kind of resource, written as plain async functions over validated inputs. The runtime wraps
 * it into the Pulumi dynamic provider protocol (check/diff/create/read/update/delete); nothing here
 * knows about gRPC or serialization.
 */
export interface ResourceKind<In extends BaseInputs, Out extends object> {
  /** Type name, e.g. `ConntrackHelperSetting`. */
  readonly type: string;
  /**
   * Inputs with defaults; unknown properties refused. An object schema: its `shape` names the
   * top-level inputs (what the runtime keeps of a property bag).
   */
  readonly schema: z.ZodType<In> & { readonly shape: Readonly<Record<string, unknown>> };
  /** Dotted input paths whose change replaces the resource. `connection.host`/`.port` always do. */
  readonly replaceOn: readonly string[];
  /** Replacements remove the old object first. */
  readonly deleteBeforeReplace?: boolean;
  /**
   * Top-level inputs fixed when the object is created: once it exists, `check` keeps their stored
   * value (or their absence, for state written before they existed), whatever the program passes.
   */
  readonly fixedOnceCreated?: readonly string[];
  /** Version of the outputs' shape; stored in state so later releases can read old state. */
  readonly stateVersion: number;
  /**
   * The per-host batch lane this kind's changes go through, when kinds share one: the engine's
   * announced changes are counted per lane (`common/announced.ts`). Default: the kind's own type.
   */
  readonly batchLane?: string;
  /** Checks that need no host beyond the schema (combinations, lockout guard). */
  validate?(inputs: In): CheckFailure[];
  /** Brings old stored outputs to the current shape (state written by earlier releases). */
  upgrade?(olds: Record<string, unknown>): Record<string, unknown>;
  /**
   * True when the stored outputs (as `read` left them) record drift that the inputs cannot show,
   * e.g. a hand edit of a managed file that kept every module line; `diff` then reports a change,
   * so that the next update repairs it.
   */
  repairPending?(olds: Record<string, unknown>): boolean;
  create(inputs: In): Promise<{ id: string; outs: Out }>;
  /** Live state; `undefined` when the object is gone from the host (the engine then drops it). */
  read(id: string, olds: In & Out): Promise<ReadOutcome<In, Out> | undefined>;
  update(id: string, olds: In & Out, news: In): Promise<Out>;
  delete(id: string, olds: In & Out): Promise<void>;
}

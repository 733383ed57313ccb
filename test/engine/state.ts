import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { SecretsManager } from "./secrets-manager";
import type { Props, Value } from "./wire";

/** One resource in a stack's state, as the engine's checkpoint keeps it. */
export interface ResourceState {
  urn: string;
  /** Type token, e.g. `pulumi-nodejs:dynamic/conntrack:NotrackRule`. */
  type: string;
  /** False for components (the stack itself). */
  custom: boolean;
  /** Provider-assigned id (empty for components). */
  id: string;
  /** Parent URN ("" for the stack). */
  parent: string;
  /** URNs this resource depends on (it is deleted before them). */
  dependencies: string[];
  /** Inputs after `Check`, with secret wrappers where the program marked secrets. */
  inputs: Props;
  /** Outputs as the provider returned them, secret-annotated. */
  outputs: Props;
  /** The `additionalSecretOutputs` resource option. */
  additionalSecretOutputs: string[];
  /** An old copy replaced by a new one and still to be deleted (create-before-delete). */
  delete?: boolean;
}

/** What a stack holds between operations. */
export interface StackState {
  /** Format of this file. */
  version: 1;
  project: string;
  stack: string;
  resources: ResourceState[];
}

/** An empty stack. */
export function emptyState(project: string, stack: string): StackState {
  return { version: 1, project, stack, resources: [] };
}

/** The resource's name: the last part of its URN. */
export function nameOf(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

/**
 * A stack's state on disk: one JSON file, secret values encrypted (never written in plain text),
 * rewritten after every step as the engine journals its checkpoint.
 */
export class StateFile {
  constructor(
    readonly file: string,
    readonly secrets = new SecretsManager(),
  ) {}

  /** True when the file exists. */
  exists(): boolean {
    return existsSync(this.file);
  }

  /** Reads the state, decrypting secrets. */
  load(): StackState {
    const raw = JSON.parse(readFileSync(this.file, "utf8")) as StackState;
    return this.secrets.unseal(raw as unknown as Value) as unknown as StackState;
  }

  /** Writes the state atomically, encrypting secrets. */
  save(state: StackState): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.secrets.seal(state as unknown as Value), null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** The file's text as stored (what a reader of the backend would see). */
  raw(): string {
    return readFileSync(this.file, "utf8");
  }
}

import type { BaseInputs, ResourceKind } from "../common/kind";
import { handlersFor, type DynamicHandlers } from "./handlers";

// Each entry turns its own kind into handlers, so the table holds one non-generic type and every
// kind keeps its own input and output types up to `handlersFor`: no cast between kinds.
const loaders = new Map<string, () => DynamicHandlers>();
const cache = new Map<string, DynamicHandlers>();

/** Makes a kind reachable by type name from the serialized provider. Loaded lazily on first use. */
export function registerKind<In extends BaseInputs, Out extends object>(type: string, load: () => ResourceKind<In, Out>): void {
  loaders.set(type, () => handlersFor(load()));
}

/**
 * The handlers for a resource type. The serialized provider of every resource calls this at call
 * time through `require("pulumi-conntrack/runtime")`, so state written by any release runs with the
 * code installed now.
 */
export function handler(type: string): DynamicHandlers {
  let h = cache.get(type);
  if (!h) {
    const load = loaders.get(type);
    if (!load) throw new Error(`pulumi-conntrack: unknown resource type ${type}; is the installed package older than the state?`);
    h = load();
    cache.set(type, h);
  }
  return h;
}

/** Registered type names. */
export function registeredTypes(): string[] {
  return [...loaders.keys()];
}

import type { BaseInputs, ResourceKind } from "../common/kind";
import { handlersFor, type DynamicHandlers } from "./handlers";

const kinds = new Map<string, () => ResourceKind<BaseInputs, object>>();
const cache = new Map<string, DynamicHandlers>();

/** Makes a kind reachable by type name from the serialized provider. Loaded lazily on first use. */
export function registerKind(type: string, load: () => ResourceKind<BaseInputs, object>): void {
  kinds.set(type, load);
}

/**
 * The handlers for a resource type. The serialized provider of every resource calls this at call
 * time through `require("pulumi-conntrack/runtime")`, so state written by any release runs with the
 * code installed now.
 */
export function handler(type: string): DynamicHandlers {
  let h = cache.get(type);
  if (!h) {
    const load = kinds.get(type);
    if (!load) throw new Error(`pulumi-conntrack: unknown resource type ${type}; is the installed package older than the state?`);
    h = handlersFor(load());
    cache.set(type, h);
  }
  return h;
}

/** Registered type names. */
export function registeredTypes(): string[] {
  return [...kinds.keys()];
}

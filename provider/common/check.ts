import type { z } from "zod";
import { containsUnknown, valueAt } from "./unknown";

/** One reason `check` refuses an input, in the shape the Pulumi engine shows. */
export interface CheckFailure {
  /** Dotted property path (`connection.port`, `modules[2]`). */
  property: string;
  reason: string;
}

/** Result of validating inputs: normalized inputs when valid, failures otherwise. */
export type CheckResult<T> = { ok: true; inputs: T } | { ok: false; failures: CheckFailure[]; inputs: Record<string, unknown> };

/** Formats a zod issue path as `a.b[2].c`. */
export function propertyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || "(inputs)";
}

/**
 * Validates `news` against `schema` and maps zod issues to `{property, reason}`. Never throws.
 * Issues about values that are still unknown (preview) are dropped: the engine checks again once
 * they are known, and the inputs are then passed through as given.
 */
export function checkWith<T>(schema: z.ZodType<T>, news: unknown): CheckResult<T> {
  let parsed: ReturnType<typeof schema.safeParse>;
  try {
    parsed = schema.safeParse(news);
  } catch (e) {
    return { ok: false, inputs: asRecord(news), failures: [{ property: "(inputs)", reason: `cannot validate: ${(e as Error).message}` }] };
  }
  if (parsed.success) return { ok: true, inputs: parsed.data };
  const failures: CheckFailure[] = [];
  for (const issue of parsed.error.issues) {
    if (containsUnknown(valueAt(news, issue.path as PropertyKey[]))) continue;
    const keys = (issue as { keys?: string[] }).keys;
    if (issue.code === "unrecognized_keys" && keys) {
      for (const k of keys) failures.push({ property: propertyPath([...(issue.path as PropertyKey[]), k]), reason: "unknown property" });
      continue;
    }
    failures.push({ property: propertyPath(issue.path as PropertyKey[]), reason: issue.message });
  }
  if (failures.length === 0 && containsUnknown(news)) return { ok: true, inputs: news as T };
  if (failures.length === 0) failures.push({ property: "(inputs)", reason: parsed.error.message });
  return { ok: false, failures, inputs: asRecord(news) };
}

function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
}

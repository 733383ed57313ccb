import { z } from "zod";
import { containsUnknown, UNKNOWN, valueAt } from "./unknown";

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
 * Validates `news` against `schema` and maps zod issues to `{property, reason}`. Never throws, and
 * never returns an `undefined` value anywhere in the inputs (the engine cannot serialize one: it
 * fails with a bare "Unexpected struct type").
 *
 * With values still unknown (preview), every known part is validated on its own and gets its
 * defaults, and each unknown value stays the unknown placeholder: the engine checks again once they
 * are known. Checks across fields are the kind's (`validate`), which must skip what depends on an
 * unknown value.
 */
export function checkWith<T>(schema: z.ZodType<T>, news: unknown): CheckResult<T> {
  try {
    if (containsUnknown(news)) return checkPartial(schema, news);
    const parsed = schema.safeParse(news);
    if (parsed.success) return { ok: true, inputs: withoutUndefined(parsed.data) as T };
    const failures = failuresOf(parsed.error.issues, news, []);
    if (failures.length === 0) failures.push({ property: "(inputs)", reason: parsed.error.message });
    return { ok: false, failures, inputs: asRecord(news) };
  } catch (e) {
    return { ok: false, inputs: asRecord(news), failures: [{ property: "(inputs)", reason: `cannot validate: ${(e as Error).message}` }] };
  }
}

function failuresOf(issues: readonly z.core.$ZodIssue[], news: unknown, prefix: readonly PropertyKey[]): CheckFailure[] {
  const failures: CheckFailure[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as PropertyKey[])];
    if (containsUnknown(valueAt(news, path))) continue;
    const keys = (issue as { keys?: string[] }).keys;
    if (issue.code === "unrecognized_keys" && keys) {
      for (const k of keys) failures.push({ property: propertyPath([...path, k]), reason: "unknown property" });
      continue;
    }
    failures.push({ property: propertyPath(path), reason: issue.message });
  }
  return failures;
}

function checkPartial<T>(schema: z.ZodType<T>, news: unknown): CheckResult<T> {
  const failures: CheckFailure[] = [];
  const value = partialParse(schema, news, [], news, failures);
  if (failures.length) return { ok: false, failures, inputs: asRecord(news) };
  return { ok: true, inputs: withoutUndefined(value) as T };
}

/** The schema under `optional`/`default`/`nullable` wrappers. */
function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (let i = 0; i < 10; i++) {
    if (cur instanceof z.ZodOptional || cur instanceof z.ZodDefault || cur instanceof z.ZodNullable || cur instanceof z.ZodPrefault) {
      cur = (cur as unknown as { _zod: { def: { innerType: z.ZodType } } })._zod.def.innerType;
    } else break;
  }
  return cur;
}

/**
 * `value` parsed field by field: an unknown value stays unknown, an object holding one is parsed
 * member by member (so its known members are validated and get their defaults), everything else is
 * parsed by its own schema. Failures are collected with their full path.
 */
function partialParse(schema: z.ZodType, value: unknown, path: PropertyKey[], root: unknown, failures: CheckFailure[]): unknown {
  if (value === UNKNOWN) return UNKNOWN;
  const inner = unwrap(schema);
  if (containsUnknown(value) && inner instanceof z.ZodObject && value && typeof value === "object" && !Array.isArray(value)) {
    const shape = inner.shape as Record<string, z.ZodType>;
    const obj = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, field] of Object.entries(shape)) {
      const v = partialParse(field, obj[k], [...path, k], root, failures);
      if (v !== undefined) out[k] = v;
    }
    // Strict objects refuse properties they do not know; others drop them, as zod would.
    const strict =
      (inner as unknown as { _zod: { def: { catchall?: { _zod?: { def?: { type?: string } } } } } })._zod.def.catchall?._zod?.def?.type ===
      "never";
    if (strict)
      for (const k of Object.keys(obj))
        if (!(k in shape) && obj[k] !== undefined) failures.push({ property: propertyPath([...path, k]), reason: "unknown property" });
    return out;
  }
  if (containsUnknown(value) && inner instanceof z.ZodArray && Array.isArray(value)) {
    const element = inner.element as z.ZodType;
    return value.map((v, i) => partialParse(element, v, [...path, i], root, failures));
  }
  if (containsUnknown(value)) return value;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  failures.push(...failuresOf(r.error.issues, root, path));
  return value;
}

/** `v` without `undefined` values anywhere (object keys dropped; array holes become null). */
export function withoutUndefined<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : withoutUndefined(x))) as T;
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) out[k] = withoutUndefined(x);
    return out as T;
  }
  return v;
}

function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
}

/**
 * Property values as they travel between a Pulumi program, the engine and a provider: plain JSON
 * plus two special forms, the secret wrapper and the unknown sentinel. The harness keeps values in
 * this form everywhere (program registrations, state, provider calls) so that what it stores and
 * sends is what the engine would.
 */

/** Key that marks a special value (`sig` in the SDK: `specialSigKey`). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
/** Signature of a secret value (`specialSecretSig`). */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** What the engine sends for a value not known yet (preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** A JSON-like property value, possibly holding secret wrappers. */
export type Value = null | boolean | number | string | Value[] | { [k: string]: Value };
/** A resource's property bag. */
export type Props = Record<string, Value>;

/** A secret as it appears on the wire: `{sig: secret, value}`. */
export interface SecretValue {
  [SIG_KEY]: typeof SECRET_SIG;
  value: Value;
}

/** True when `v` is a secret wrapper. */
export function isSecret(v: unknown): v is SecretValue {
  return !!v && typeof v === "object" && !Array.isArray(v) && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Wraps `v` as a secret (once). */
export function secret(v: Value): Value {
  return isSecret(v) ? v : ({ [SIG_KEY]: SECRET_SIG, value: v } as unknown as Value);
}

/**
 * The value with every secret wrapper removed: what the engine sends to a provider that answered
 * `acceptSecrets: false` (the dynamic-provider server does).
 */
export function reveal(v: unknown): Value {
  if (isSecret(v)) return reveal(v.value);
  if (Array.isArray(v)) return v.map(reveal);
  if (v && typeof v === "object") {
    const out: Record<string, Value> = {};
    for (const [k, x] of Object.entries(v)) out[k] = reveal(x);
    return out;
  }
  return v as Value;
}

/** {@link reveal} for a property bag. */
export function revealProps(p: Props): Props {
  return reveal(p) as Props;
}

/** True when `v` is, or holds, a secret. */
export function holdsSecret(v: unknown): boolean {
  if (isSecret(v)) return true;
  if (Array.isArray(v)) return v.some(holdsSecret);
  if (v && typeof v === "object") return Object.values(v).some(holdsSecret);
  return false;
}

/** True when `v` is, or holds, the unknown sentinel. */
export function holdsUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (isSecret(v)) return holdsUnknown(v.value);
  if (Array.isArray(v)) return v.some(holdsUnknown);
  if (v && typeof v === "object") return Object.values(v).some(holdsUnknown);
  return false;
}

/**
 * Marks values of `outs` secret where the same place in `ins` was secret, recursing through
 * objects and arrays: the engine's rule for a provider that does not accept secrets (outputs are
 * secret only where an input of the same name was).
 */
export function annotateSecrets(outs: Value, ins: unknown): Value {
  if (isSecret(ins)) return secret(reveal(outs));
  if (isSecret(outs)) return outs;
  if (Array.isArray(outs) && Array.isArray(ins)) return outs.map((o, i) => annotateSecrets(o, ins[i]));
  if (outs && typeof outs === "object" && !Array.isArray(outs) && ins && typeof ins === "object" && !Array.isArray(ins)) {
    const out: Record<string, Value> = {};
    const src = ins as Record<string, unknown>;
    for (const [k, o] of Object.entries(outs)) out[k] = k in src ? annotateSecrets(o, src[k]) : o;
    return out;
  }
  return outs;
}

/** Marks the named top-level properties secret (`additionalSecretOutputs`). */
export function markSecret(p: Props, names: readonly string[]): Props {
  const out: Props = { ...p };
  for (const n of names) if (n in out) out[n] = secret(reveal(out[n]));
  return out;
}

/** Structural equality of revealed values; key order does not matter, array order does. */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(reveal(a))) === JSON.stringify(canonical(reveal(b)));
}

function canonical(v: Value): Value {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    const out: Record<string, Value> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

/** Top-level keys whose values differ between two property bags (revealed), sorted. */
export function changedKeys(a: Props, b: Props, ignore: readonly string[] = []): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !ignore.includes(k) && !sameValue(a[k] ?? null, b[k] ?? null)).sort();
}

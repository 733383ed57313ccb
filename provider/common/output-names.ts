/**
 * One list of output names per resource kind. The outputs type of a kind (with its TSDoc and value
 * types) stays the one source of the names' types; the kind also keeps one `as const` list of those
 * names, checked at compile time to be exactly the type's keys, and everything else is derived from
 * it or checked against it: the constructor's output slots ({@link outputSlots}) and the
 * `declare readonly` fields of the resource class that users see ({@link DeclaresOutputs}).
 */
import type * as pulumi from "@pulumi/pulumi";

/** Compiles only when `T` is `true`: how the checks below are stated (`type _x = Assert<...>`). */
export type Assert<T extends true> = T;

/** `true` when `Names` holds exactly the keys of `Out`, each once; otherwise what is wrong, as a message. */
export type ExactNames<Out, Names extends readonly PropertyKey[]> = [Exclude<keyof Out, Names[number]>] extends [never]
  ? [Exclude<Names[number], keyof Out>] extends [never]
    ? Names extends readonly [infer Head, ...infer Tail extends readonly PropertyKey[]]
      ? Head extends Tail[number]
        ? { duplicate: Head }
        : ExactNames<Omit<Out, Head & keyof Out>, Tail>
      : true
    : { notAnOutput: Exclude<Names[number], keyof Out> }
  : { missing: Exclude<keyof Out, Names[number]> };

/** Whether `A` and `B` are the same type (each assignable to the other, unions not distributed). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * `true` when the resource class `R` declares every name of `Names` as `pulumi.Output` of exactly
 * its type in `Out`; otherwise the names it gets wrong or lacks.
 */
export type DeclaresOutputs<R, Out, Names extends readonly (keyof Out)[]> = {
  [K in Names[number]]: K extends keyof R ? (Same<R[K], pulumi.Output<Out[K]>> extends true ? never : K) : K;
}[Names[number]] extends infer Wrong
  ? [Wrong] extends [never]
    ? true
    : { wrongOrMissingField: Wrong }
  : never;

/**
 * The resource constructor's output slots: every output name set to `undefined`, so that the engine
 * reports it as an output of the resource (a name left out here never reaches the program).
 */
export function outputSlots<const N extends readonly string[]>(names: N): { [K in N[number]]: undefined } {
  const slots: Partial<Record<N[number], undefined>> = {};
  for (const n of names as readonly N[number][]) slots[n] = undefined;
  return slots as { [K in N[number]]: undefined };
}

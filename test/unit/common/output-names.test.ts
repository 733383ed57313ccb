/**
 * One list of output names per kind (provider/common/output-names.ts): the constructor slots come
 * from the list, and the compiler holds the list to the outputs type and to the class's declared
 * fields (`npm run typecheck` runs the type-level expectations below).
 */
import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { DeclaresOutputs, ExactNames } from "../../../provider/common/output-names";
import { outputSlots } from "../../../provider/common/output-names";
import { HELPER_SETTING_OUTPUT_NAMES } from "../../../provider/resources/helper-setting/outputs";
import { MODULE_BLACKLIST_OUTPUT_NAMES } from "../../../provider/resources/module-blacklist/outputs";
import { NOTRACK_RULE_OUTPUT_NAMES } from "../../../provider/resources/notrack-rule/outputs";
import { TABLE_SIZE_OUTPUT_NAMES } from "../../../provider/resources/table-size/outputs";

describe("output names", () => {
  it("give the constructor one undefined slot per name, and nothing else", () => {
    const slots = outputSlots(["a", "b"] as const);
    expect(slots).toEqual({ a: undefined, b: undefined });
    expect(Object.keys(slots)).toEqual(["a", "b"]);
    expectTypeOf(slots).toEqualTypeOf<{ a: undefined; b: undefined }>();
  });

  it("are listed once per kind, each name once", () => {
    for (const names of [HELPER_SETTING_OUTPUT_NAMES, MODULE_BLACKLIST_OUTPUT_NAMES, NOTRACK_RULE_OUTPUT_NAMES, TABLE_SIZE_OUTPUT_NAMES]) {
      expect(new Set(names).size).toBe(names.length);
      expect(names).toContain("warnings");
    }
  });

  it("are held by the compiler to the outputs type and the declared fields", () => {
    type Out = { a: string; b: number | null };
    expectTypeOf<ExactNames<Out, readonly ["a", "b"]>>().toEqualTypeOf<true>();
    expectTypeOf<ExactNames<Out, readonly ["a"]>>().toEqualTypeOf<{ missing: "b" }>();
    expectTypeOf<ExactNames<Out, readonly ["a", "b", "c"]>>().toEqualTypeOf<{ notAnOutput: "c" }>();
    expectTypeOf<ExactNames<Out, readonly ["a", "b", "a"]>>().toEqualTypeOf<{ duplicate: "a" }>();
    type Good = { a: pulumi.Output<string>; b: pulumi.Output<number | null>; extra: pulumi.Output<boolean> };
    type Wrong = { a: pulumi.Output<string>; b: pulumi.Output<number> };
    type Lacking = { a: pulumi.Output<string> };
    expectTypeOf<DeclaresOutputs<Good, Out, readonly ["a", "b"]>>().toEqualTypeOf<true>();
    expectTypeOf<DeclaresOutputs<Wrong, Out, readonly ["a", "b"]>>().toEqualTypeOf<{ wrongOrMissingField: "b" }>();
    expectTypeOf<DeclaresOutputs<Lacking, Out, readonly ["a", "b"]>>().toEqualTypeOf<{ wrongOrMissingField: "b" }>();
  });
});

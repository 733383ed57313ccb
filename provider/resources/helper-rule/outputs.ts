/** What a ConntrackHelperRule reports besides its inputs. */
import type { NotrackRuleOutputs } from "../notrack-rule/outputs";
import type { HelperModuleState } from "../notrack-rule/host/helper-modules";
import type { Assert, ExactNames } from "../../common/output-names";

/** The helper's kernel module, as the operation left it. */
export interface HelperModuleOutput {
  /** `nf_conntrack_ftp`... */
  name: string;
  /**
   * `builtin` (nothing to load), `loaded` (loaded now, by this operation or earlier), `unknown` (the
   * host has no module lists; the kernel accepted the rule). After a refresh: as observed.
   */
  state: HelperModuleState;
}

/** What a ConntrackHelperRule records beyond its inputs: NotrackRule's outputs, and the helper's kernel side. */
export interface ConntrackHelperRuleOutputs extends NotrackRuleOutputs {
  /** The kernel's name of the helper the rule sets (`ftp`; for h323 `Q.931` over tcp, `RAS` over udp). */
  kernelHelper: string;
  /** The helper's kernel module. */
  helperModule: HelperModuleOutput;
}

/**
 * The names of ConntrackHelperRule's outputs besides its inputs, once (checked at compile time
 * against {@link ConntrackHelperRuleOutputs} and the class's declared fields).
 */
export const HELPER_RULE_OUTPUT_NAMES = [
  "tag",
  "resolvedBackend",
  "ruleText",
  "persistence",
  "actions",
  "warnings",
  "kernelHelper",
  "helperModule",
] as const;

// Compile-time only: the list is exactly the outputs type's keys.
type _NamesAreTheOutputs = Assert<ExactNames<ConntrackHelperRuleOutputs, typeof HELPER_RULE_OUTPUT_NAMES>>;

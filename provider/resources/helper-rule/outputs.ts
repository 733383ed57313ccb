/** What a ConntrackHelperRule reports besides its inputs. */
import type { NotrackRuleOutputs } from "../notrack-rule/outputs";
import type { HelperModuleState } from "../notrack-rule/host/helper-modules";

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

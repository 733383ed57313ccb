/**
 * Which conntrack helper modules the managed rules on a host use, so that keeping one of them out
 * while a ConntrackHelperRule attaches its helper is refused: at the next boot the saved ruleset's
 * `-j CT --helper ftp` (or nft's `ct helper set "ftp-tcp"`) cannot load `nf_conntrack_ftp`, and the
 * restore of the whole raw table fails. Pure; data-driven from `transport/conntrack-helpers.ts`.
 */
import {
  HELPER_INFO,
  HELPERS,
  helperObjectName,
  helperProtocols,
  parseHelperObjectName,
  type HelperName,
} from "../../transport/conntrack-helpers";
import type { ManagedNotrackRule } from "./notrack-guard";

/** The listed modules that hold a conntrack helper (canonical names). */
export function helperModulesIn(modules: readonly string[]): string[] {
  return modules.filter((m) => HELPERS.some((h) => HELPER_INFO[h].module === m));
}

/** The helper whose kernel registers `kernelName` (`Q.931` and `RAS` are `h323`); each name is one helper's. */
function helperOfKernelName(kernelName: string): HelperName | undefined {
  return HELPERS.find((h) => Object.values(HELPER_INFO[h].kernelNames).includes(kernelName));
}

// `-j CT --helper ftp` (iptables-save) and `ct helper set "ftp-tcp"` (nft list), quoted or not.
const IPTABLES_HELPER = /(?:^|\s)--helper\s+"?([^"\s]+)"?(?=\s|$)/g;
const NFT_HELPER = /(?:^|\s)ct helper set\s+"?([^"\s]+)"?(?=\s|$)/g;

/** The helper modules one managed rule needs to load (empty for a NOTRACK rule). */
export function helperModulesOfRule(rule: ManagedNotrackRule): string[] {
  const helpers = new Set<HelperName>();
  for (const m of rule.rule.matchAll(IPTABLES_HELPER)) {
    const h = helperOfKernelName(m[1]);
    if (h) helpers.add(h);
  }
  for (const m of rule.rule.matchAll(NFT_HELPER)) {
    const p = parseHelperObjectName(m[1]);
    if (p) helpers.add(p.helper);
  }
  return [...helpers].map((h) => HELPER_INFO[h].module);
}

/** A listed helper module and the managed rules that use it. */
export interface HelperModuleInUse {
  module: string;
  rules: ManagedNotrackRule[];
}

/** The listed helper modules that managed rules use, in the order listed, each with those rules. */
export function helperModulesInUse(rules: readonly ManagedNotrackRule[], modules: readonly string[]): HelperModuleInUse[] {
  const out: HelperModuleInUse[] = [];
  for (const module of helperModulesIn(modules)) {
    const using = rules.filter((r) => helperModulesOfRule(r).includes(module));
    if (using.length > 0) out.push({ module, rules: using });
  }
  return out;
}

function escapeEre(s: string): string {
  return s.replace(/[.[\]()*+?{}|^$\\]/g, "\\$&");
}

/**
 * Extended regex (grep -E) matching a `ctk_notrack_scan` row of a rule that uses one of the helper
 * `modules` (the same test as {@link helperModulesOfRule}, for the check under the host lock); null
 * when none of `modules` holds a helper.
 */
export function helperUseEre(modules: readonly string[]): string | null {
  const helpers = HELPERS.filter((h) => helperModulesIn(modules).includes(HELPER_INFO[h].module));
  if (helpers.length === 0) return null;
  const kernelNames = [...new Set(helpers.flatMap((h) => Object.values(HELPER_INFO[h].kernelNames)))].map(escapeEre);
  const objects = helpers.flatMap((h) => helperProtocols(h).map((p) => escapeEre(helperObjectName(h, p))));
  return `(^|[[:space:]])(--helper[[:space:]]+"?(${kernelNames.join("|")})|ct helper set[[:space:]]+"?(${objects.join("|")}))"?([[:space:]]|$)`;
}

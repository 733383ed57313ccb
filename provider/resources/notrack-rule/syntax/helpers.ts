/**
 * The helper facts of `transport/conntrack-helpers.ts` (one table, shared with ModuleBlacklist), and
 * the nft declaration of a helper object. Pure.
 */
import { kernelHelperName, parseHelperObjectName } from "../../../transport/conntrack-helpers";

export * from "../../../transport/conntrack-helpers";

/** The object's declaration inside the table block (`ct helper ftp-tcp { type "ftp" protocol tcp; }`). */
export function helperObjectDeclaration(name: string): string {
  const p = parseHelperObjectName(name);
  if (!p) throw new TypeError(`not a helper object name: ${JSON.stringify(name)}`);
  return `ct helper ${name} { type "${kernelHelperName(p.helper, p.protocol)}" protocol ${p.protocol}; }`;
}

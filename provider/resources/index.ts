export * from "./helper-setting";
export * from "./notrack-rule";
export * from "./module-blacklist";
export * from "./table-size";
// Each kind's folder exports its own `plan`; at this level the name would be ambiguous, so it stays
// the helper setting's, as before, and the others are reachable under their prefixed names.
export { plan } from "./helper-setting";

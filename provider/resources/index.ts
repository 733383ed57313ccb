export * from "./helper-setting";
export * from "./notrack-rule";
export * from "./module-blacklist";

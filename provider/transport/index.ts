export * from "./quote";
export * from "./hostkey";
export * from "./dial";
export * from "./pool";
export * from "./exec";
export * from "./files";
export * from "./sections";
export * from "./facts";

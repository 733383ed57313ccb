export * from "./check";
export * from "./diff";
export * from "./equal";
export * from "./kind";
export * from "./thin-provider";
export * from "./markers";
export * from "./resource-options";
export * from "./unknown";

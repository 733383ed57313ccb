export * from "./connection";
export * from "./errors";
export * from "./transport";
export * from "./common";
export * from "./resources";
export * from "./status";

export * from "./check.ts";
export * from "./exposition.ts";
export * from "./promql.ts";
export * from "./services.ts";

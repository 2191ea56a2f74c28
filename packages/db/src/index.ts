export * from "./migrate.ts";
export * from "./clients.ts";
export * from "./vacuum.ts";

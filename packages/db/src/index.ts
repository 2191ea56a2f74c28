export * from "./migrate.ts";
export * from "./clients.ts";
export * from "./vacuum.ts";
export * from "./copy.ts";

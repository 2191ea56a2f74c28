export * from "./migrate.ts";
export * from "./clients.ts";

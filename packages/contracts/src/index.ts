export * from "./topics.ts";
export * from "./dlq.ts";
export * from "./schemas.ts";
export * from "./registry.ts";
export type * from "./generated/types.ts";
export * from "./ids.ts";
export * from "./provenance.ts";
export * from "./frontier.ts";

export * from "./stack.ts";
export * from "./kafka.ts";

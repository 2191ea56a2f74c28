export * from "./inputs.ts";
export * from "./member.ts";
export * from "./due.ts";
export * from "./partition.ts";
export * from "./task.ts";
export * from "./output.ts";

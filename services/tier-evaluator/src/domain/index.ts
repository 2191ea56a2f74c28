export * from "./inputs.ts";
export * from "./member.ts";
export * from "./partition.ts";
export * from "./output.ts";

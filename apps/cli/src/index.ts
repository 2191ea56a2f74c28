export { buildProgram, runCli } from "./program.ts";
export type { CliContext } from "./context.ts";
export { EXIT } from "./errors.ts";

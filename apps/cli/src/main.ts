// `pnpm loyalty <command>`: the command tree is in program.ts. Exits explicitly: a client library
// may leave a timer behind, and the exit code is the command's contract (README: Exit codes).
import { runCli } from "./program.ts";

process.exit(await runCli(process.argv.slice(2)));

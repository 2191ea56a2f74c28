// `pnpm loyalty <command>`: the command tree is in program.ts. Exits explicitly: a client library
// may leave a timer behind, and the exit code is the command's contract (README: Exit codes).
import { withStackCredentials } from "@loyalty/local-stack";
import { runCli } from "./program.ts";

// The developer fallback (docs/security.md): with no KAFKA_SASL_USERNAME in the environment, the
// CLI acts as the local stack's admin principal, whose credentials the stack keeps in its
// credentials file. Set in the process environment so that every client the commands make
// (Kafka, the registry) sees them; an environment that names a principal wins.
Object.assign(process.env, withStackCredentials(process.env));

const code = await runCli(process.argv.slice(2));
// On a pipe, stdout is written asynchronously: a large document (churn calibrate --json) would be
// cut short by exiting now. A write's callback runs once every earlier write has gone out.
const flushed = (s: NodeJS.WriteStream) => new Promise<void>((resolve) => s.write("", () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);

// What a command runs with: its environment and where its output goes. Commands never read
// process.env or write to the console directly, so tests run them in-process with their own.
import { type Endpoints, endpointsFromEnv } from "@loyalty/local-stack";

export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** One line (or block) of standard output. */
  out(text: string): void;
  /** One line (or block) of standard error. */
  err(text: string): void;
  /** Whether stdout is a terminal (live redraws, progress bars). */
  tty: boolean;
  /** Relative paths on the command line are resolved from here. */
  cwd: string;
}

export function processContext(): CliContext {
  return {
    env: process.env,
    out: (t) => void process.stdout.write(`${t}\n`),
    err: (t) => void process.stderr.write(`${t}\n`),
    tty: process.stdout.isTTY === true,
    // pnpm runs scripts from the workspace root; INIT_CWD is where the user typed the command.
    cwd: process.env.INIT_CWD ?? process.cwd(),
  };
}

export function namespaceOf(ctx: CliContext): string {
  return ctx.env.LOYALTY_NAMESPACE ?? "";
}

export function endpointsOf(ctx: CliContext): Endpoints {
  return endpointsFromEnv(ctx.env);
}

/** JSON on stdout: one document, indented, for scripts (`jq`). */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.out(JSON.stringify(value, null, 2));
}

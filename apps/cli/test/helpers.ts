// Running the CLI in tests: in-process through runCli (fast, with its own environment and
// captured output) or as the real child process `node --import tsx apps/cli/src/main.ts`.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runCli } from "../src/program.ts";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** In-process: the exported program, with `env` as its whole environment (plus PATH). */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    env: { PATH: process.env.PATH, ...env },
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    tty: false,
    cwd,
  });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

/** As a child process; resolves when it exits (killed after `timeoutMs`). */
export function cliProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<Ran> {
  return run(process.execPath, ["--import", "tsx", MAIN, ...args], opts);
}

/** Any command line through sh, e.g. a hint the demo printed. */
export function shell(
  line: string,
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<Ran> {
  return run("/bin/sh", ["-c", line], opts);
}

function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? REPO,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Environment pointing the CLI at the test stack and a namespace, nothing else inherited. */
export function stackEnv(
  stack: { kafkaBrokers: string[]; schemaRegistryUrl: string; databaseUrl: string; redisUrl: string },
  namespace: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // Where the stack keeps its credentials: the CLI authenticates as its admin from there.
    ...(process.env.LOYALTY_STACK_DIR ? { LOYALTY_STACK_DIR: process.env.LOYALTY_STACK_DIR } : {}),
    KAFKA_BROKERS: stack.kafkaBrokers.join(","),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL: stack.redisUrl,
    LOYALTY_NAMESPACE: namespace,
    LOYALTY_PARTITIONS: "3",
    ...extra,
  };
}

// The marketers' console beside `loyalty up` (ADR 18): its server on CONSOLE_PORT (8090) in
// front of the API, and a marketer key created for this run (printed once, like any key; revoke it
// with `pnpm loyalty keys revoke ID`). Not built (apps/console/dist missing): said so, and up goes on
// without it.
import { existsSync } from "node:fs";
import { KeyStore } from "@loyalty/api";
import {
  type ConsoleServer,
  DIST,
  backtestConfigFromEnv,
  publishConfigFromEnv,
  startConsoleServer,
} from "@loyalty/console/server";
import type { Pool } from "@loyalty/db";
import { UsageError } from "../errors.ts";
import { envPrefix } from "./hints.ts";

export interface ConsoleRun {
  server: ConsoleServer;
  url: string;
  keyId: string;
  key: string;
}

export function consolePort(env: NodeJS.ProcessEnv): number {
  const port = Number(env.CONSOLE_PORT ?? "8090");
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new UsageError(`CONSOLE_PORT must be a port number, got ${env.CONSOLE_PORT}`);
  return port;
}

/** Null (and why, through `log`) when the console is not built. */
export async function startConsole(
  env: NodeJS.ProcessEnv,
  pool: Pool,
  apiPort: number,
  log: (line: string) => void,
): Promise<ConsoleRun | null> {
  if (!existsSync(`${DIST}index.html`)) {
    log(`console: not built (no ${DIST}index.html): pnpm --filter @loyalty/console build, then run again`);
    return null;
  }
  const server = await startConsoleServer({
    port: consolePort(env),
    host: "127.0.0.1",
    apiUrl: `http://127.0.0.1:${apiPort}`,
    dist: DIST,
    // Backtests read the namespace's history as the `backtest` principal (not up's own admin).
    backtest: backtestConfigFromEnv({ ...env, KAFKA_SASL_USERNAME: "", KAFKA_SASL_PASSWORD: "" }),
    // Publishing as the publisher principal, signed with RULES_SIGNING_KEY[_FILE] or the stack's
    // dev key, as `rules publish` signs: the key stays in this process, never in the browser.
    publish: publishConfigFromEnv(env),
  });
  const created = await new KeyStore(pool, null).create({
    name: `console-${new Date().toISOString().slice(0, 19)}`,
    owner: "loyalty up",
    scopes: ["marketer"],
  });
  return { server, url: `${server.url}/`, keyId: created.keyId, key: created.key };
}

/** The lines `loyalty up` prints; the revoke command works as printed, like the other hints. */
export function formatConsole(c: ConsoleRun, env: NodeJS.ProcessEnv): string {
  return [
    `  the console   ${c.url}`,
    `  its key       ${c.key}`,
    `                (marketer scope, made for this run and shown once; to revoke it: ${envPrefix(env)}pnpm loyalty keys revoke ${c.keyId})`,
  ].join("\n");
}

// `node --import tsx apps/console/server/main.ts`: CONSOLE_API_URL (the member API), CONSOLE_PORT
// (8090), CONSOLE_HOST (127.0.0.1); for backtests KAFKA_BROKERS, SCHEMA_REGISTRY_URL,
// LOYALTY_NAMESPACE, the `backtest` principal's KAFKA_SASL_* / SCHEMA_REGISTRY_* and
// CONSOLE_PROGRAMME_DIR (rules/standard). Serves apps/console/dist, which `pnpm --filter
// @loyalty/console build` makes.
import { backtestConfigFromEnv } from "./backtest.ts";
import { publishConfigFromEnv } from "./publish.ts";
import { DIST, startConsoleServer } from "./serve.ts";

function env(name: string, fallback?: string): string {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === "") {
    process.stderr.write(`console: ${name} is required (e.g. ${name}=http://127.0.0.1:8080)\n`);
    process.exit(2);
  }
  return v;
}

const port = Number(env("CONSOLE_PORT", "8090"));
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`console: CONSOLE_PORT must be a port number, got ${process.env.CONSOLE_PORT}\n`);
  process.exit(2);
}
const s = await startConsoleServer({
  port,
  host: env("CONSOLE_HOST", "127.0.0.1"),
  apiUrl: env("CONSOLE_API_URL"),
  dist: process.env.CONSOLE_DIST ?? DIST,
  backtest: backtestConfigFromEnv(process.env),
  publish: publishConfigFromEnv(process.env),
});
process.stdout.write(`console: ${s.url}/ (API ${process.env.CONSOLE_API_URL})\n`);
const stop = () => void s.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

// The local stack's SASL/SCRAM principals and their passwords. `stack up` generates a random
// password per principal on first run and keeps them in <stack dir>/credentials.json (mode 0600);
// the broker, the registry proxy, `loyalty up`, the CLI and the test harness read them from there.
// Processes the project starts get their principal's credentials in the environment
// (principalEnv); the environment always wins over the file.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stackPaths } from "./paths.ts";
import { stackTlsEnv } from "./tls.ts";

/** One principal per service: the name a service runs under is its SERVICE_NAME. */
export const SERVICE_PRINCIPALS = [
  "ingestor",
  "rules-engine",
  "tier-evaluator",
  "churn-alert",
  "api",
] as const;

/**
 * Every principal of the stack. `admin` is the broker's super user (the stack's own
 * administration, the CLI, the tests' readers and writers); `publisher` publishes rule sets;
 * `upstream` is the shops and POS (orders.v1 and members.v1 only); `registry` is Apicurio's
 * own storage client (its kafkasql topics only); `backtest` reads the history a backtest prices
 * (loyalty.purchases.v1 and loyalty.members.v1, read only: the console's server and
 * `loyalty rules backtest --from-topic`).
 */
export const PRINCIPALS = [
  "admin",
  ...SERVICE_PRINCIPALS,
  "publisher",
  "upstream",
  "registry",
  "backtest",
] as const;
export type Principal = (typeof PRINCIPALS)[number];

export type StackCredentials = Record<Principal, string>;

/** The SASL mechanism of the local stack's client listener. */
export const STACK_SASL_MECHANISM = "scram-sha-512";

export function credentialsFile(stateDir: string): string {
  return join(stateDir, "credentials.json");
}

export class CredentialsFileError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "CredentialsFileError";
  }
}

function parse(file: string): Partial<StackCredentials> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CredentialsFileError(`${file} is not readable JSON: ${(err as Error).message}`);
  }
  const principals = (doc as { principals?: unknown } | null)?.principals;
  if (typeof principals !== "object" || principals === null)
    throw new CredentialsFileError(`${file} has no "principals" object`);
  const out: Partial<StackCredentials> = {};
  for (const p of PRINCIPALS) {
    const v = (principals as Record<string, unknown>)[p];
    if (typeof v === "string" && v.length >= 16) out[p] = v;
  }
  return out;
}

function complete(c: Partial<StackCredentials>): c is StackCredentials {
  return PRINCIPALS.every((p) => typeof c[p] === "string");
}

/**
 * The stack's credentials, generated (32 random bytes, base64url) for any principal that has
 * none yet, and written with mode 0600. Existing passwords are kept.
 */
export function ensureCredentials(stateDir: string): StackCredentials {
  const file = credentialsFile(stateDir);
  const have = existsSync(file) ? parse(file) : {};
  if (complete(have)) {
    chmodSync(file, 0o600);
    return have;
  }
  const next = { ...have } as Record<string, string>;
  for (const p of PRINCIPALS) next[p] ??= randomBytes(32).toString("base64url");
  writeFileSync(file, `${JSON.stringify({ version: 1, principals: next }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return next as StackCredentials;
}

/** The stack's credentials, or null when the stack has none (a stack from before SASL, or none). */
export function readCredentials(env: NodeJS.ProcessEnv = process.env): StackCredentials | null {
  const file = credentialsFile(stackPaths(env).stateDir);
  if (!existsSync(file)) return null;
  const c = parse(file);
  return complete(c) ? c : null;
}

/**
 * The environment of a process acting as `principal` on the local stack: its Kafka SASL
 * credentials and the registry's. Merged over a process's environment by whoever starts it.
 */
export function principalEnv(creds: StackCredentials, principal: Principal): Record<string, string> {
  return {
    KAFKA_SASL_MECHANISM: STACK_SASL_MECHANISM,
    KAFKA_SASL_USERNAME: principal,
    KAFKA_SASL_PASSWORD: creds[principal],
    SCHEMA_REGISTRY_USERNAME: principal,
    SCHEMA_REGISTRY_PASSWORD: creds[principal],
  };
}

/**
 * The developer fallback: an environment with no KAFKA_SASL_USERNAME gets the stack's `admin`
 * credentials from the credentials file, if there is one; one that names a principal of the
 * stack without a password (`KAFKA_SASL_USERNAME=publisher pnpm loyalty rules publish ...`)
 * gets that principal's. On a stack started with LOYALTY_KAFKA_TLS=1 it also gets KAFKA_SSL=true
 * and KAFKA_SSL_CA_FILE (the stack's CA) unless it sets either itself. The environment wins: a
 * username with a password is left as it is, and so is an environment for a stack without
 * credentials.
 */
export function withStackCredentials(
  env: NodeJS.ProcessEnv,
  principal: Principal = "admin",
): NodeJS.ProcessEnv {
  const named = env.KAFKA_SASL_USERNAME || undefined;
  if (named !== undefined && env.KAFKA_SASL_PASSWORD) return env;
  const wanted = named ?? principal;
  if (!(PRINCIPALS as readonly string[]).includes(wanted)) return env;
  const creds = readCredentials(env);
  if (creds === null) return env;
  // A stack whose broker speaks TLS: its CA too, unless the environment says how to do TLS.
  const tls = env.KAFKA_SSL || env.KAFKA_SSL_CA_FILE ? {} : stackTlsEnv(env);
  return { ...env, ...principalEnv(creds, wanted as Principal), ...tls };
}

export function isServicePrincipal(name: string | undefined): name is (typeof SERVICE_PRINCIPALS)[number] {
  return (SERVICE_PRINCIPALS as readonly string[]).includes(name ?? "");
}

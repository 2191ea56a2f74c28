import { execFileSync } from "node:child_process";
import { ensureDatabase } from "@loyalty/db";
import {
  type Endpoints,
  authOf,
  devRulesKeys,
  endpointsFromEnv,
  grantNamespace,
  isServicePrincipal,
  principalEnv,
  probeAll,
  readCredentials,
  stackUp,
  testEndpointsFromEnv,
  withStackCredentials,
} from "@loyalty/local-stack";
import { Kafka, logLevel } from "kafkajs";
import { saslOf, sslOf } from "./kafka.ts";

export interface TestStack extends Endpoints {
  via: "environment" | "local-scripts" | "testcontainers";
}

let cached: Promise<TestStack> | null = null;

function dockerEngineAnswers(): boolean {
  try {
    execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

const HOW_TO =
  "Start the local stack with `pnpm loyalty stack up` (Kafka and the registry from Maven jars), " +
  "make sure PostgreSQL and Redis run (DATABASE_URL / REDIS_URL), or point KAFKA_BROKERS, " +
  "SCHEMA_REGISTRY_URL, DATABASE_URL and REDIS_URL at a running stack.";

async function resolveStack(): Promise<TestStack> {
  // Tests get their own database so that they never touch the demo's ledger.
  const env = { ...process.env, DATABASE_URL: testEndpointsFromEnv().databaseUrl };
  let e = endpointsFromEnv(env);
  let probes = await probeAll(e, authOf(readCredentials(env), "admin", env));
  let via: TestStack["via"] = "environment";

  if (!probes.kafka.ok || !probes.registry.ok) {
    if (
      process.env.LOYALTY_TEST_STACK === "testcontainers" ||
      (!process.env.LOYALTY_TEST_STACK &&
        dockerEngineAnswers() &&
        process.env.LOYALTY_TEST_PREFER_CONTAINERS === "1")
    ) {
      const { startContainers } = await import("./containers.ts");
      e = await startContainers();
      via = "testcontainers";
    } else if (process.env.LOYALTY_TEST_AUTOSTART !== "0") {
      await stackUp({ env, log: (l) => process.stderr.write(`[stack] ${l}\n`) });
      via = "local-scripts";
    }
    probes = await probeAll(e, authOf(readCredentials(env), "admin", env));
  }
  const down = Object.entries(probes).filter(([, p]) => !p.ok);
  if (down.length) {
    throw new Error(
      `integration tests need the real stack; unreachable: ${down.map(([n, p]) => `${n} (${p.detail})`).join(", ")}. ${HOW_TO}`,
    );
  }
  // Each test namespace is migrated by the services (or the test) that use it.
  await ensureDatabase(e.databaseUrl);
  // The test process itself is the stack's admin (unless the environment names a principal):
  // its own clients, and services it boots in-process, authenticate with these.
  const withAdmin = withStackCredentials(process.env);
  for (const name of CREDENTIAL_VARS) if (withAdmin[name] !== undefined) process.env[name] = withAdmin[name];
  return { ...e, via };
}

const CREDENTIAL_VARS = [
  "KAFKA_SASL_MECHANISM",
  "KAFKA_SASL_USERNAME",
  "KAFKA_SASL_PASSWORD",
  "SCHEMA_REGISTRY_USERNAME",
  "SCHEMA_REGISTRY_PASSWORD",
  // Set when the stack's broker speaks TLS (LOYALTY_KAFKA_TLS=1): spawned services inherit them.
  "KAFKA_SSL",
  "KAFKA_SSL_CA_FILE",
] as const;

/**
 * Creates the ACLs of a namespace (as admin), once per test process: a service started on a
 * namespace runs as its own principal, which may use only its namespace's topics once they exist.
 */
export async function grantTestNamespace(brokers: string[], namespace: string): Promise<void> {
  const sasl = saslOf();
  if (sasl === undefined) return;
  const ssl = sslOf();
  const admin = new Kafka({
    clientId: "loyalty-test-acl",
    brokers,
    logLevel: logLevel.NOTHING,
    sasl,
    ...(ssl === undefined ? {} : { ssl }),
  }).admin();
  await admin.connect();
  try {
    await grantNamespace(admin, namespace);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A service process's environment with its own principal's credentials (SERVICE_NAME names it)
 * when the stack has credentials; any other process keeps the environment it was given.
 */
function asPrincipal(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const creds = readCredentials(env);
  if (creds === null || !isServicePrincipal(env.SERVICE_NAME)) return env;
  return { ...env, ...principalEnv(creds, env.SERVICE_NAME) };
}

/** The real stack for integration tests; fails (never skips) with instructions when absent. */
export function requireStack(): Promise<TestStack> {
  cached ??= resolveStack();
  return cached;
}

/** Environment for a service process under test, pointed at the test stack and namespace. */
export function serviceEnv(
  stack: TestStack,
  namespace: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    // The local stack's dev public key verifies rule sets unless the environment names others
    // (services never sign: only the publisher publishes).
    RULES_PUBLIC_KEYS: devRulesKeys().publicKeyFile,
    ...process.env,
    KAFKA_BROKERS: stack.kafkaBrokers.join(","),
    SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL: stack.redisUrl,
    LOYALTY_NAMESPACE: namespace,
    LOYALTY_PARTITIONS: "3",
    LOG_LEVEL: "warn",
    CONSUMER_SESSION_TIMEOUT_MS: "10000",
    ...extra,
  };
}

export interface RunningService {
  child: import("node:child_process").ChildProcess;
  /** SIGTERM, then the exit code (0 for a clean two-phase shutdown). */
  stop(): Promise<number | null>;
  /** SIGKILL: the crash case. */
  kill(): Promise<void>;
}

// Services a test started and has not seen exit: killed when the test process exits, so that a
// test that fails before its stop() leaves nothing running (the test command checks for strays).
const live = new Set<import("node:child_process").ChildProcess>();
let reaperInstalled = false;
function track(child: import("node:child_process").ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.once("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

/**
 * Runs a service's composition root as a child process (node + tsx, so signals reach it). A
 * service named by SERVICE_NAME runs as its own principal, its namespace's ACLs created first.
 */
export async function spawnService(mainTs: string, given: NodeJS.ProcessEnv): Promise<RunningService> {
  const env = asPrincipal(given);
  if (env !== given && env.KAFKA_BROKERS)
    await grantTestNamespace(env.KAFKA_BROKERS.split(","), env.LOYALTY_NAMESPACE ?? "");
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", mainTs], {
    cwd: root,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  track(child);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

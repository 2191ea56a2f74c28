// PostgreSQL and Kafka for one command: opened from the context's environment, always closed,
// their failures translated into the CLI's typed errors (unreachable, no such state).
import { NAMESPACE_PATTERN, type Topics, namespacedTopics } from "@loyalty/contracts";
import { type Pool, createPool } from "@loyalty/db";
import { withStackCredentials } from "@loyalty/local-stack";
import { ConfigError, type KafkaSecurity, kafkaSecurity } from "@loyalty/stream-runtime";
import { type Admin, Kafka, logLevel } from "kafkajs";
import { type CliContext, endpointsOf } from "./context.ts";
import {
  NotFoundError,
  StackUnavailableError,
  UsageError,
  isConnectionFailure,
  isMissingTable,
} from "./errors.ts";

/** LOYALTY_NAMESPACE, checked: it becomes a schema name and a topic prefix. */
export function namespace(ctx: CliContext): string {
  const ns = ctx.env.LOYALTY_NAMESPACE ?? "";
  if (ns !== "" && !NAMESPACE_PATTERN.test(ns))
    throw new UsageError(`LOYALTY_NAMESPACE must match ${NAMESPACE_PATTERN}, got ${ns}`);
  return ns;
}

export function topics(ctx: CliContext): Topics {
  return namespacedTopics(namespace(ctx));
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(malformed URL)";
  }
}

function databaseName(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  } catch {
    return url;
  }
}

/** Runs fn with a small pool on the namespace's schema; closes it; translates its failures. */
export async function withPool<T>(ctx: CliContext, fn: (pool: Pool, ns: string) => Promise<T>): Promise<T> {
  const ns = namespace(ctx);
  const url = endpointsOf(ctx).databaseUrl;
  const pool = createPool(url, { max: 2, namespace: ns, applicationName: "loyalty-cli" });
  // An idle client's error (the server going away) must not crash the process unhandled; the
  // next query fails with it and is translated below. Said on stderr meanwhile.
  pool.on("error", (err) => ctx.err(`PostgreSQL: idle connection lost: ${err.message}`));
  try {
    return await fn(pool, ns);
  } catch (err) {
    throw translateDbError(err, url, ns);
  } finally {
    await pool.end();
  }
}

export function translateDbError(err: unknown, url: string, ns: string): unknown {
  if (isConnectionFailure(err))
    return new StackUnavailableError(`PostgreSQL at ${safeUrl(url)} is not reachable (DATABASE_URL)`, {
      cause: err,
    });
  if ((err as { code?: unknown } | null)?.code === "3D000")
    return new NotFoundError(
      `database '${databaseName(url)}' does not exist: \`pnpm loyalty migrate\` (or any service) creates it`,
    );
  if (isMissingTable(err))
    return new NotFoundError(
      `namespace '${ns || "(default)"}' of database '${databaseName(url)}' holds no engine state` +
        " (has the engine run there? LOYALTY_NAMESPACE selects the namespace)",
    );
  return err;
}

/**
 * The CLI's Kafka security: KAFKA_SASL_*, KAFKA_SSL and KAFKA_SSL_CA_FILE from the environment
 * (an operator publishing rule sets sets the `publisher` principal's there), else the local
 * stack's admin principal from its credentials file (and its CA when its broker speaks TLS),
 * resolved as the services resolve theirs (kafkaSecurity). A bad setting is a usage error.
 */
export function kafkaSecurityOf(ctx: CliContext): KafkaSecurity {
  try {
    return kafkaSecurity(withStackCredentials(ctx.env));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * A Kafka client whose own log lines (errors only) go to the context's stderr: stdout is the
 * command's output, one JSON document with --json.
 */
export function kafkaClient(ctx: CliContext, clientId: string): Kafka {
  const { sasl, ssl } = kafkaSecurityOf(ctx);
  return new Kafka({
    clientId,
    brokers: endpointsOf(ctx).kafkaBrokers,
    logLevel: logLevel.ERROR,
    logCreator: () => (entry) => ctx.err(`${clientId}: kafka: ${entry.log.message}`),
    retry: { initialRetryTime: 100, retries: 10 },
    ...(sasl === undefined ? {} : { sasl }),
    ...(ssl === undefined ? {} : { ssl }),
  });
}

/** Runs fn with a connected admin client; disconnects it; a refused connection is exit code 3. */
export async function withAdmin<T>(
  ctx: CliContext,
  clientId: string,
  fn: (admin: Admin, kafka: Kafka) => Promise<T>,
): Promise<T> {
  const kafka = kafkaClient(ctx, clientId);
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw translateKafkaError(err, ctx);
  }
  try {
    return await fn(admin, kafka);
  } catch (err) {
    throw translateKafkaError(err, ctx);
  } finally {
    await admin.disconnect();
  }
}

export function translateKafkaError(err: unknown, ctx: CliContext): unknown {
  if (isConnectionFailure(err))
    return new StackUnavailableError(
      `Kafka at ${endpointsOf(ctx).kafkaBrokers.join(",")} is not reachable (KAFKA_BROKERS)`,
      { cause: err },
    );
  return err;
}

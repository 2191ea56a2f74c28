import { z } from "zod";
import { ConfigError } from "./errors.ts";

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .refine((a) => a.length > 0, "must list at least one host:port");

/** What every service reads; names are shared with infra/local and docker-compose.yml. */
export const baseConfigSchema = z.object({
  SERVICE_NAME: z.string().min(1),
  KAFKA_BROKERS: csv.default("127.0.0.1:9092"),
  SCHEMA_REGISTRY_URL: z.string().url().default("http://127.0.0.1:8081/apis/ccompat/v7"),
  DATABASE_URL: z.string().url().default("postgres://postgres@127.0.0.1:5432/loyalty"),
  REDIS_URL: z.string().url().default("redis://127.0.0.1:6379/0"),
  // Kafka authentication and TLS (see kafkaSecurity in kafka.ts, which checks they go together).
  KAFKA_SASL_MECHANISM: z.enum(["scram-sha-512", "scram-sha-256", "plain"]).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SSL: z.enum(["true", "false"]).optional(),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  // HTTP basic authentication on the schema registry.
  SCHEMA_REGISTRY_USERNAME: z.string().min(1).optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  CLOCK_MODE: z.enum(["event", "wall"]).default("event"),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  // Address of the ops server (/livez, /readyz, /healthz, /metrics): 0.0.0.0 where Prometheus scrapes from another host or container.
  HTTP_HOST: z.string().min(1).default("127.0.0.1"),
  // Prefix of topics, consumer groups, PostgreSQL schema and Redis keys; empty in production.
  LOYALTY_NAMESPACE: z
    .string()
    .regex(/^([a-z][a-z0-9_]{0,30})?$/, "must be empty or match [a-z][a-z0-9_]{0,30}")
    .default(""),
  // Stable per running instance: a restarted instance fences its own zombie's transactions.
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default("0"),
  LOYALTY_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  LOYALTY_REPLICATION: z.coerce.number().int().min(1).max(10).default(1),
  CONSUMER_MAX_BATCH: z.coerce.number().int().min(1).max(100_000).default(2000),
  // The least time between two batches of a task runner (Kafka Streams' commit.interval.ms):
  // unset, each service's own default (0, a batch as soon as records arrive, on the path from an
  // order to its points; more for services off it, such as the tier evaluator).
  COMMIT_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).optional(),
  // A crashed member holds its partitions until this expires; the broker's minimum is 6 s.
  CONSUMER_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6000).max(300_000).default(30_000),
  // How often a service checks its update-heavy tables and vacuums those that need it; 0 leaves
  // it to autovacuum.
  DB_VACUUM_INTERVAL_MS: z.coerce.number().int().min(0).default(10_000),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  // /readyz: each check (PostgreSQL, Kafka, lag) must answer within this.
  READY_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
  // /readyz fails while a partition's consumer lag is above this; 0 (the default) turns the bound
  // off, so that a replay or a backlog does not take a service out of rotation.
  READY_MAX_CONSUMER_LAG: z.coerce.number().int().min(0).default(0),
});

export type BaseConfig = z.infer<typeof baseConfigSchema>;

/** Names whose value is a secret: never echoed in a configuration error or a log line. */
export const SECRET_NAME = /KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL/i;

/**
 * How a configuration error may show a value: not at all for a secret by name, a URL with its
 * password replaced by `***` (and withheld if it cannot be parsed but has userinfo), else as given.
 */
export function shownValue(name: string, value: string): string | null {
  if (SECRET_NAME.test(name)) return null;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Unparseable: a password may be anywhere before the last '@'.
    return value.includes("@") ? null : value;
  }
  if (url.password === "") return value;
  url.password = "***";
  return url.toString();
}

/** One line of a ConfigError: the variable, the rule it breaks, and the value only if it may be shown. */
export function configProblem(name: string, rule: string, given: string | undefined): string {
  if (given === undefined) return `${name}: ${rule} (not set)`;
  const shown = shownValue(name, given);
  // A rule's message may quote the input (zod's enum and literal messages do).
  const safeRule = shown === given || given === "" ? rule : rule.split(given).join("***");
  return shown === null
    ? `${name}: ${safeRule} (value not shown: secret)`
    : `${name}: ${safeRule} (got '${shown}')`;
}

/**
 * Validates the environment once, at start. Every problem is reported with the variable's
 * name and the rule it breaks; a secret's value never is (see configProblem).
 */
export function loadConfig<S extends z.ZodTypeAny>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const name = i.path.join(".") || "(environment)";
    const given = typeof i.path[0] === "string" ? env[i.path[0]] : undefined;
    return configProblem(name, i.message, given);
  });
  throw new ConfigError(problems);
}

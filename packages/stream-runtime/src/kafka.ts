import { readFileSync } from "node:fs";
import { ALL_TOPICS, type TopicSpec } from "@loyalty/contracts";
import { type Admin, type ITopicConfig, Kafka, type SASLOptions } from "kafkajs";
import { configProblem } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { type Logger, kafkajsLevel, kafkajsLogCreator } from "./logger.ts";

/** How a client authenticates to the brokers and whether it speaks TLS. */
export interface KafkaSecurity {
  sasl?: SASLOptions;
  ssl?: boolean | { ca: string[] };
}

const MECHANISMS = ["scram-sha-512", "scram-sha-256", "plain"] as const;
type Mechanism = (typeof MECHANISMS)[number];

/**
 * Kafka's TLS and SASL settings from the environment (the names of baseConfigSchema):
 * KAFKA_SASL_MECHANISM (scram-sha-512, scram-sha-256 or plain; scram-sha-512 when a username is
 * given without one), KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (both or neither), KAFKA_SSL
 * (true/false) and KAFKA_SSL_CA_FILE (a PEM bundle; implies TLS). No variable set: plaintext,
 * unauthenticated, which a broker with SASL refuses. Problems are a ConfigError naming each
 * variable; a password is never shown.
 */
export interface KafkaSecurityEnv {
  KAFKA_SASL_MECHANISM?: string | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SSL?: string | undefined;
  KAFKA_SSL_CA_FILE?: string | undefined;
}

export function kafkaSecurity(env: KafkaSecurityEnv = process.env): KafkaSecurity {
  const problems: string[] = [];
  const username = env.KAFKA_SASL_USERNAME || undefined;
  const password = env.KAFKA_SASL_PASSWORD || undefined;
  const mechanismRaw = env.KAFKA_SASL_MECHANISM || undefined;
  if (mechanismRaw !== undefined && !(MECHANISMS as readonly string[]).includes(mechanismRaw))
    problems.push(
      configProblem("KAFKA_SASL_MECHANISM", `must be one of ${MECHANISMS.join(", ")}`, mechanismRaw),
    );
  if (username !== undefined && password === undefined)
    problems.push(configProblem("KAFKA_SASL_PASSWORD", "is required with KAFKA_SASL_USERNAME", undefined));
  if (password !== undefined && username === undefined)
    problems.push(configProblem("KAFKA_SASL_USERNAME", "is required with KAFKA_SASL_PASSWORD", undefined));
  if (mechanismRaw !== undefined && username === undefined && password === undefined)
    problems.push(configProblem("KAFKA_SASL_USERNAME", "is required with KAFKA_SASL_MECHANISM", undefined));
  const sslRaw = env.KAFKA_SSL || undefined;
  if (sslRaw !== undefined && sslRaw !== "true" && sslRaw !== "false")
    problems.push(configProblem("KAFKA_SSL", "must be true or false", sslRaw));
  const caFile = env.KAFKA_SSL_CA_FILE || undefined;
  let ca: string | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile, "utf8");
      if (!ca.includes("-----BEGIN CERTIFICATE-----"))
        problems.push(configProblem("KAFKA_SSL_CA_FILE", "must be a PEM file of CA certificates", caFile));
    } catch (err) {
      problems.push(
        configProblem("KAFKA_SSL_CA_FILE", `cannot be read (${(err as NodeJS.ErrnoException).code})`, caFile),
      );
    }
    if (sslRaw === "false")
      problems.push(configProblem("KAFKA_SSL", "cannot be false with KAFKA_SSL_CA_FILE", sslRaw));
  }
  if (problems.length) throw new ConfigError(problems);
  const out: KafkaSecurity = {};
  if (username !== undefined && password !== undefined) {
    const mechanism = (mechanismRaw ?? "scram-sha-512") as Mechanism;
    out.sasl = { mechanism, username, password } as SASLOptions;
  }
  if (ca !== undefined) out.ssl = { ca: [ca] };
  else if (sslRaw === "true") out.ssl = true;
  return out;
}

/**
 * A kafkajs client. Its TLS and SASL settings are `security` when given, else read from the
 * process environment (kafkaSecurity), so every client the project makes authenticates the same way.
 */
export function createKafka(opts: {
  clientId: string;
  brokers: string[];
  logger: Logger;
  level: string;
  security?: KafkaSecurity;
}): Kafka {
  const security = opts.security ?? kafkaSecurity();
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    logLevel: kafkajsLevel(opts.level),
    logCreator: kafkajsLogCreator(opts.logger),
    retry: { initialRetryTime: 100, retries: 10 },
    ...(security.sasl === undefined ? {} : { sasl: security.sasl }),
    ...(security.ssl === undefined ? {} : { ssl: security.ssl }),
  });
}

export function topicConfig(t: TopicSpec, partitions: number, replication: number): ITopicConfig {
  const configEntries = [
    { name: "cleanup.policy", value: t.compacted ? "compact" : "delete" },
    { name: "retention.ms", value: String(t.retentionMs) },
    // Timestamps are the producers' event-time stamps, kept as sent.
    { name: "message.timestamp.type", value: "CreateTime" },
  ];
  if (t.compacted) configEntries.push({ name: "min.compaction.lag.ms", value: "0" });
  // A dead letter wraps an input record of up to the broker's 1 MiB limit: it must always fit.
  if (t.name.endsWith("loyalty.dlq.v1"))
    configEntries.push({ name: "max.message.bytes", value: String(16 * 1024 * 1024) });
  // Rule sets are tiny and global: one partition keeps them totally ordered.
  return {
    topic: t.name,
    numPartitions: t.compacted ? 1 : partitions,
    replicationFactor: replication,
    configEntries,
  };
}

/**
 * Creates missing topics with explicit settings; existing topics are left as they are. Safe
 * when several services start at once: a topic another process created first is not an error.
 */
export async function ensureTopics(
  admin: Admin,
  opts: { partitions: number; replication: number; topics?: readonly TopicSpec[] },
): Promise<string[]> {
  const created: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const existing = new Set(await admin.listTopics());
    const missing = (opts.topics ?? ALL_TOPICS).filter((t) => !existing.has(t.name));
    if (missing.length === 0) return created;
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => topicConfig(t, opts.partitions, opts.replication)),
      });
      return created.concat(missing.map((t) => t.name));
    } catch (err) {
      const errors = (err as { errors?: Array<{ type?: string }> }).errors;
      const onlyRaces = Array.isArray(errors) && errors.every((e) => e.type === "TOPIC_ALREADY_EXISTS");
      // Created, but the leader wait's metadata request beat the topic to the broker's cache
      // (kafkajs retries LEADER_NOT_AVAILABLE there, not this): producers and consumers retry it.
      const metadataLag = (err as { type?: unknown }).type === "UNKNOWN_TOPIC_OR_PARTITION";
      if ((!onlyRaces && !metadataLag) || attempt >= 3) throw err;
      if (metadataLag) {
        created.push(...missing.map((t) => t.name));
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

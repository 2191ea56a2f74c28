import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  type Principal,
  principalEnv,
  readCredentials,
  stackCaFile,
  withStackCredentials,
} from "@loyalty/local-stack";
import { type Admin, Kafka, type KafkaMessage, type SASLOptions, logLevel } from "kafkajs";

/** SASL settings of an environment's KAFKA_SASL_* (the stack's admin when it names none). */
export function saslOf(env: NodeJS.ProcessEnv = process.env): SASLOptions | undefined {
  const e = withStackCredentials(env);
  if (!e.KAFKA_SASL_USERNAME || !e.KAFKA_SASL_PASSWORD) return undefined;
  const mechanism = (e.KAFKA_SASL_MECHANISM || "scram-sha-512") as "scram-sha-512";
  return { mechanism, username: e.KAFKA_SASL_USERNAME, password: e.KAFKA_SASL_PASSWORD };
}

/**
 * TLS settings of an environment's KAFKA_SSL / KAFKA_SSL_CA_FILE (the stack's CA when it names
 * neither and the stack's broker speaks TLS); undefined for plaintext.
 */
export function sslOf(env: NodeJS.ProcessEnv = process.env): { ca: string[] } | true | undefined {
  const e = withStackCredentials(env);
  const caFile = e.KAFKA_SSL_CA_FILE || (e.KAFKA_SSL ? undefined : (stackCaFile(env) ?? undefined));
  if (caFile !== undefined) return { ca: [readFileSync(caFile, "utf8")] };
  return e.KAFKA_SSL === "true" ? true : undefined;
}

/**
 * The tests' own client: the stack's admin principal (super user), so that a test can create,
 * write and read any topic of its namespace. Services under test run as their own principal.
 */
export function testKafka(brokers: string[]): Kafka {
  const sasl = saslOf();
  const ssl = sslOf();
  return new Kafka({
    clientId: "loyalty-test",
    brokers,
    logLevel: logLevel.NOTHING,
    ...(sasl === undefined ? {} : { sasl }),
    ...(ssl === undefined ? {} : { ssl }),
  });
}

/**
 * The headers a test's own request to the schema registry needs: HTTP basic authentication as
 * the environment's SCHEMA_REGISTRY_USERNAME (the stack's admin when it names none).
 */
export function registryHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const e = withStackCredentials(env);
  const user = e.SCHEMA_REGISTRY_USERNAME;
  const password = e.SCHEMA_REGISTRY_PASSWORD;
  if (!user || !password) return {};
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

/** The SASL settings of one of the stack's principals; none on a stack without credentials. */
export function principalSasl(principal: Principal): SASLOptions | undefined {
  const creds = readCredentials();
  if (creds === null) return undefined;
  return { mechanism: "scram-sha-512", username: principal, password: creds[principal] };
}

/** librdkafka settings (kcat -X ...) for one of the stack's principals; none without credentials. */
export function kcatSecurityArgs(principal: Principal): string[] {
  const sasl = principalSasl(principal);
  if (sasl === undefined || sasl.mechanism !== "scram-sha-512") return [];
  const ca = stackCaFile();
  return [
    "-X",
    `security.protocol=${ca === null ? "SASL_PLAINTEXT" : "SASL_SSL"}`,
    ...(ca === null ? [] : ["-X", `ssl.ca.location=${ca}`]),
    "-X",
    "sasl.mechanisms=SCRAM-SHA-512",
    "-X",
    `sasl.username=${sasl.username}`,
    "-X",
    `sasl.password=${sasl.password}`,
  ];
}

/**
 * A client authenticated as one of the stack's principals (`ingestor`, `publisher`, `upstream`,
 * ...), for tests of what that principal may and may not do. Fails when the stack has no
 * credentials (a stack from before SASL).
 */
export function principalKafka(brokers: string[], principal: Principal): Kafka {
  const creds = readCredentials();
  if (creds === null) throw new Error("the stack has no credentials file: is it a stack with SASL?");
  const env = principalEnv(creds, principal);
  const ssl = sslOf();
  return new Kafka({
    clientId: `loyalty-test-${principal}`,
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    sasl: { mechanism: "scram-sha-512", username: principal, password: env.KAFKA_SASL_PASSWORD ?? "" },
    ...(ssl === undefined ? {} : { ssl }),
  });
}

/**
 * The client that publishes rule sets: the `publisher` principal on a stack with credentials (the
 * only principal that may write loyalty.rules.v1), the test client on a stack without.
 */
export function publisherKafka(brokers: string[]): Kafka {
  const sasl = principalSasl("publisher");
  if (sasl === undefined) return testKafka(brokers);
  return new Kafka({ clientId: "loyalty-test-publisher", brokers, logLevel: logLevel.NOTHING, sasl });
}

export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}

export async function createTopic(admin: Admin, topic: string, partitions = 1): Promise<void> {
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    });
  } catch (err) {
    // The broker can answer the leader wait's metadata request for a topic it has just created
    // with UNKNOWN_TOPIC_OR_PARTITION, which kafkajs does not retry there (seen in CI): the
    // topic exists, so wait for its leaders here.
    if ((err as { type?: unknown }).type !== "UNKNOWN_TOPIC_OR_PARTITION") throw err;
    await waitForLeaders(admin, topic);
  }
}

async function waitForLeaders(admin: Admin, topic: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const led = await admin
      .fetchTopicMetadata({ topics: [topic] })
      .then((m) => m.topics[0]?.partitions.every((p) => p.leader >= 0) ?? false)
      .catch(() => false);
    if (led) return;
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A record as read, with the partition it was read from. */
export type ReadMessage = KafkaMessage & { partition: number };

/**
 * Reads a topic from the beginning (read_committed) until `until` says enough, then keeps
 * reading until nothing new has arrived for `settleMs`, so that an exact-count assertion
 * also sees a late extra record. Fails after the timeout.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  until: (msgs: ReadMessage[]) => boolean,
  timeoutMs = 30_000,
  settleMs = 1500,
): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({
    groupId: uniqueName("test-reader"),
    maxBytesPerPartition: 8 * 1024 * 1024,
  });
  const msgs: ReadMessage[] = [];
  let lastArrival = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (batch.messages.length) {
        for (const m of batch.messages) msgs.push({ ...m, partition: batch.partition });
        lastArrival = Date.now();
      }
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !until(msgs)) await new Promise((r) => setTimeout(r, 100));
  while (until(msgs) && Date.now() - lastArrival < settleMs) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
  if (!until(msgs))
    throw new Error(`timed out after ${timeoutMs} ms reading ${topic}: got ${msgs.length} message(s)`);
  return msgs;
}

/** A fresh engine namespace (topics, groups, PostgreSQL schema, Redis prefix) for one test. */
export function testNamespace(): string {
  return `t${randomUUID().replace(/-/g, "").slice(0, 10)}`;
}

/**
 * Deletes a namespace's topics (`<ns>.…`): a benchmark that runs again and again would otherwise
 * leave the broker tens of partitions more each time, and slow the runs it compares.
 */
export async function deleteNamespaceTopics(brokers: string[], namespace: string): Promise<number> {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${namespace}.`));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    return topics.length;
  } finally {
    await admin.disconnect();
  }
}

/** Waits until a consumer group has committed every record of its topics (lag 0 everywhere). */
export async function waitForGroup(
  kafka: Kafka,
  groupId: string,
  topics: string[],
  timeoutMs = 300_000,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let lag = 0;
      for (const t of await admin.fetchOffsets({ groupId, topics })) {
        const end = new Map(
          (await admin.fetchTopicOffsets(t.topic)).map((o) => [o.partition, Number(o.high)]),
        );
        for (const p of t.partitions)
          lag += Math.max(0, (end.get(p.partition) ?? 0) - Math.max(0, Number(p.offset)));
      }
      if (lag === 0) return;
      if (Date.now() > deadline)
        throw new Error(`group ${groupId} still ${lag} record(s) behind after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
}

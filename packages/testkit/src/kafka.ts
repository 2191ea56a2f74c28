import { randomUUID } from "node:crypto";
import { type Admin, Kafka, type KafkaMessage, logLevel } from "kafkajs";

export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: "loyalty-test", brokers, logLevel: logLevel.NOTHING });
}

export function uniqueName(prefix: string): string {
  return `${prefix}.${randomUUID().slice(0, 8)}`;
}

export async function createTopic(admin: Admin, topic: string, partitions = 1): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
  });
}

/**
 * Reads a topic from the beginning (read_committed) until `until` says enough, then keeps
 * reading until nothing new has arrived for `settleMs`, so that an exact-count assertion
 * also sees a late extra record. Fails after the timeout.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  until: (msgs: KafkaMessage[]) => boolean,
  timeoutMs = 30_000,
  settleMs = 1500,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({
    groupId: uniqueName("test-reader"),
    maxBytesPerPartition: 8 * 1024 * 1024,
  });
  const msgs: KafkaMessage[] = [];
  let lastArrival = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (batch.messages.length) {
        msgs.push(...batch.messages);
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

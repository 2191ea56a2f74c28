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

/** Reads a topic from the beginning until `until` says enough, or fails after the timeout. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  until: (msgs: KafkaMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName("test-reader") });
  const msgs: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      msgs.push(...batch.messages);
      if (until(msgs)) done();
    },
  });
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  if (!until(msgs))
    throw new Error(`timed out after ${timeoutMs} ms reading ${topic}: got ${msgs.length} message(s)`);
  return msgs;
}

/** A fresh engine namespace (topics, groups, PostgreSQL schema, Redis prefix) for one test. */
export function testNamespace(): string {
  return `t${randomUUID().replace(/-/g, "").slice(0, 10)}`;
}

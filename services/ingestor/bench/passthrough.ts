// The ceiling: a raw kafkajs consume-and-produce loop doing no work (copy value, send batch,
// commit), with the same batching and acknowledgements as the services.
import { Kafka, Partitioners, logLevel } from "kafkajs";

const [brokers, input, output, group] = process.argv.slice(2) as [string, string, string, string];
// Authenticated like every client of the project: KAFKA_SASL_* from the environment (the CLI's).
const { KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = process.env;
const kafka = new Kafka({
  clientId: "passthrough",
  brokers: brokers.split(","),
  logLevel: logLevel.NOTHING,
  ...(username && password ? { sasl: { mechanism: "scram-sha-512" as const, username, password } } : {}),
});
const producer = kafka.producer({
  createPartitioner: Partitioners.DefaultPartitioner,
  maxInFlightRequests: 1,
});
const consumer = kafka.consumer({ groupId: group, maxBytesPerPartition: 4 * 1024 * 1024 });
await producer.connect();
await consumer.connect();
await consumer.subscribe({ topics: [input], fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
    if (!batch.messages.length) return;
    await producer.sendBatch({
      acks: -1,
      topicMessages: [
        { topic: output, messages: batch.messages.map((m) => ({ key: m.key, value: m.value })) },
      ],
    });
    const last = batch.messages[batch.messages.length - 1]!.offset;
    await consumer.commitOffsets([
      { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
    ]);
    resolveOffset(last);
    await heartbeat();
  },
});
process.once("SIGTERM", () => {
  void consumer
    .disconnect()
    .then(() => producer.disconnect())
    .then(() => process.exit(0));
});

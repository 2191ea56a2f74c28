// The ceiling: a raw kafkajs consume-and-produce loop doing no work (copy value, send batch,
// commit), with the same batching and acknowledgements as the services.
import { withStackCredentials } from "@loyalty/local-stack";
import { kafkaSecurity } from "@loyalty/stream-runtime";
import { Kafka, Partitioners, logLevel } from "kafkajs";

const [brokers, input, output, group] = process.argv.slice(2) as [string, string, string, string];
// Authenticated like every developer tool of the project (docs/security.md): KAFKA_SASL_*,
// KAFKA_SSL and KAFKA_SSL_CA_FILE from the environment (its starter's: the CLI's or the bench's),
// else the local stack's admin principal from its credentials file, which `pnpm bench` may have
// created after its own process started.
const security = kafkaSecurity(withStackCredentials(process.env));
const kafka = new Kafka({
  clientId: "passthrough",
  brokers: brokers.split(","),
  logLevel: logLevel.NOTHING,
  ...(security.sasl === undefined ? {} : { sasl: security.sasl }),
  ...(security.ssl === undefined ? {} : { ssl: security.ssl }),
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

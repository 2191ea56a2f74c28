// kafkajs 2.2.4 with the stream runtime's own settings (producer.ts, runner.ts).
import { createRequire } from "node:module";
import {
  CompressionTypes,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  Partitioners,
  logLevel,
} from "kafkajs";
import type { BenchRecord } from "../orders.ts";
import {
  type BenchClient,
  type ClientSettings,
  type ConsumeJob,
  type ConsumeResult,
  Countdown,
  advanced,
  chunks,
} from "./types.ts";

const version = (createRequire(import.meta.url)("kafkajs/package.json") as { version: string }).version;

export function kafkajsClient(s: ClientSettings): BenchClient {
  const kafka = new Kafka({
    clientId: s.clientId,
    brokers: s.brokers,
    // The transactional producer meets CONCURRENT_TRANSACTIONS right after each commit and
    // retries it (see the runtime's producer.ts): kafkajs logs each retry as an error.
    logLevel: process.env.KBENCH_KAFKAJS_LOG === "warn" ? logLevel.WARN : logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 10 },
    ...(s.security.sasl === undefined ? {} : { sasl: s.security.sasl }),
    ...(s.security.ssl === undefined ? {} : { ssl: s.security.ssl }),
  });

  const consumer = (groupId: string) =>
    kafka.consumer({
      groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 4 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });

  async function consume(
    job: ConsumeJob,
    handle: (
      p: EachBatchPayload,
      chunk: EachBatchPayload["batch"]["messages"],
      next: string,
      c: Consumer,
    ) => Promise<void>,
  ): Promise<ConsumeResult> {
    const c = consumer(job.groupId);
    const done = new Countdown(job.expected);
    const started = performance.now();
    let firstRecordMs = -1;
    let commits = 0;
    await c.connect();
    try {
      await c.subscribe({ topics: [job.from], fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async (p) => {
          if (firstRecordMs < 0) firstRecordMs = performance.now() - started;
          try {
            for (const chunk of chunks(p.batch.messages, job.maxBatch)) {
              if (!p.isRunning() || p.isStale()) return;
              const last = chunk[chunk.length - 1]!;
              await handle(p, chunk, (BigInt(last.offset) + 1n).toString(), c);
              commits++;
              p.resolveOffset(last.offset);
              await p.heartbeat();
              done.add(chunk.length);
            }
          } catch (err) {
            done.fail(err);
            throw err;
          }
        },
      });
      await done.done;
    } finally {
      await c.disconnect();
    }
    return { consumed: done.count, commits, firstRecordMs };
  }

  const toMessages = (job: ConsumeJob, chunk: EachBatchPayload["batch"]["messages"]) => [
    {
      topic: job.to,
      messages: chunk.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp })),
    },
  ];

  return {
    name: "kafkajs",
    version,

    async produce(topic: string, records: readonly BenchRecord[], batch: number): Promise<number> {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      let requests = 0;
      try {
        for (const part of chunks(records, batch)) {
          await producer.send({ topic, acks: -1, compression: CompressionTypes.None, messages: part });
          requests++;
          advanced(part.length);
        }
      } finally {
        await producer.disconnect();
      }
      return requests;
    },

    async producePipelined(topic: string, records: readonly BenchRecord[], batch: number): Promise<number> {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      try {
        const parts = chunks(records, batch);
        await Promise.all(
          parts.map(async (part) => {
            await producer.send({ topic, acks: -1, compression: CompressionTypes.None, messages: part });
            advanced(part.length);
          }),
        );
        return parts.length;
      } finally {
        await producer.disconnect();
      }
    },

    async passthrough(job: ConsumeJob): Promise<ConsumeResult> {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      try {
        return await consume(job, async (p, chunk, next, c) => {
          await producer.sendBatch({
            acks: -1,
            compression: CompressionTypes.None,
            topicMessages: toMessages(job, chunk),
          });
          // The runner's non-transactional path: output acknowledged, then the offsets.
          await c.commitOffsets([{ topic: p.batch.topic, partition: p.batch.partition, offset: next }]);
        });
      } finally {
        await producer.disconnect();
      }
    },

    async transactional(job: ConsumeJob): Promise<ConsumeResult> {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        maxInFlightRequests: 1,
        transactionalId: job.transactionalId ?? `${job.groupId}-txn`,
        idempotent: true,
        transactionTimeout: 60_000,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 10, maxRetryTime: 5_000 },
      });
      await producer.connect();
      try {
        return await consume(job, async (p, chunk, next) => {
          const txn = await producer.transaction();
          try {
            await txn.sendBatch({
              acks: -1,
              compression: CompressionTypes.None,
              topicMessages: toMessages(job, chunk),
            });
            await txn.sendOffsets({
              consumerGroupId: job.groupId,
              topics: [
                { topic: p.batch.topic, partitions: [{ partition: p.batch.partition, offset: next }] },
              ],
            });
            await txn.commit();
          } catch (err) {
            await txn.abort().catch(() => undefined);
            throw err;
          }
        });
      } finally {
        await producer.disconnect();
      }
    },
  };
}

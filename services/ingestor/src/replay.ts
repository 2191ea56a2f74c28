// Publishes a file of orders to orders.v1 exactly as an upstream shop would: JSON values,
// keyed by customer id, record timestamp = the order's time. Order ids are deterministic, so
// replaying a file twice sends the same orders (and the ingestor drops the second copy).
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { CompressionTypes, type Kafka, Partitioners } from "kafkajs";
import { type ReplayFormat, type ReplayRecord, createReplayState, parseLine } from "./domain/index.ts";

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
  /** Latest event time among the orders sent (epoch ms), null if none. */
  lastEventTime: number | null;
}

/**
 * Lines as records, in event-time order. CDNOW files are sorted by customer, not by time: sent
 * as they are, each partition's event time would jump back and forth and a replay would not be
 * what living through those months was. They are sorted by order time (stable, so orders of
 * one day keep file order; order ids come from file order and do not change). JSON Lines are
 * sent as written: an upstream log is already in the order it happened.
 */
async function* records(
  lines: AsyncIterable<string>,
  state: ReturnType<typeof createReplayState>,
): AsyncGenerator<ReplayRecord> {
  let index = 0;
  const held: ReplayRecord[] = [];
  for await (const line of lines) {
    const r = parseLine(line, index++, state);
    if (state.format === "jsonl") {
      yield* held.splice(0);
      yield r;
    } else held.push(r);
  }
  const time = (r: ReplayRecord) => (r.kind === "order" ? r.order.occurredAt : Number.NEGATIVE_INFINITY);
  yield* held
    .map((r, i) => ({ r, i }))
    .sort((a, b) => time(a.r) - time(b.r) || a.i - b.i)
    .map((x) => x.r);
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
  const p: ReplayProgress = { sent: 0, skipped: 0, invalidLines: 0, elapsedMs: 0, lastEventTime: null };
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
    for await (const r of records(lines, state)) {
      if (o.limit !== undefined && p.sent + batch.length >= o.limit) break;
      if (r.kind === "skip") {
        p.skipped++;
        continue;
      }
      if (r.kind === "error") {
        // A bad line is still sent: the engine, not the replayer, decides what is malformed.
        p.invalidLines++;
        batch.push({ key: null, value: r.payload });
      } else if (r.kind === "order") {
        if (p.lastEventTime === null || r.order.occurredAt > p.lastEventTime)
          p.lastEventTime = r.order.occurredAt;
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

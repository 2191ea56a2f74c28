import type { AvroCodec, MemberChanged, PurchaseEvent, Topics } from "@loyalty/contracts";
import { TransientError } from "@loyalty/stream-runtime";
import type { Kafka, KafkaMessage } from "kafkajs";
import { decodeEvent } from "../pipeline.ts";

// The history a backtest prices, read from the topics the engine itself consumes: canonical
// purchases (loyalty.purchases.v1) and member changes (loyalty.members.v1), from the beginning to
// the end each partition had when the read started, decoded as the engine decodes them
// (decodeEvent). One reader for every caller: `loyalty rules backtest --from-topic` and the
// console's server, so both price the same events. The caller's Kafka client carries its
// principal: the stack's `backtest` principal may read these two topics and nothing else
// (schemas/asyncapi.yaml), in throwaway groups `loyalty-backtest-<pid>-<time>`; it commits no
// offset and writes nothing. Never reads a database.

/** Group prefix the `backtest` principal may use (x-principals.backtest.globalGroups). */
export const HISTORY_GROUP_PREFIX = "loyalty-backtest-";

export interface TopicHistory {
  purchases: PurchaseEvent[];
  memberEvents: MemberChanged[];
  /** Records read per topic (name -> count), skipped ones included. */
  records: Record<string, number>;
  /** Records the engine would not have priced either (undecodable, no member id): dead letters. */
  skipped: number;
}

export interface ReadHistoryOptions {
  /** Events at or after this event time (epoch ms) are not kept: a backtest never reads them. */
  to: number;
  /** Give up (TransientError) when the topics' ends are not reached within this time. Default 120 s. */
  timeoutMs?: number;
}

/** One history record as the engine decodes it; `skipped` when the engine would not price it. */
export type HistoryRecord =
  | { kind: "purchase"; event: PurchaseEvent }
  | { kind: "member"; event: MemberChanged }
  | { kind: "skipped" };

/** Decodes one record of the purchases or member-changes topic with the engine's decodeEvent. */
export async function decodeHistoryRecord(
  codec: AvroCodec,
  topics: Topics,
  topic: string,
  partition: number,
  m: KafkaMessage,
): Promise<HistoryRecord> {
  const headers: Record<string, string> = {};
  for (const [h, v] of Object.entries(m.headers ?? {}))
    if (v !== undefined) headers[h] = Array.isArray(v) ? v.map(String).join(",") : String(v);
  const e = await decodeEvent(codec, topics, {
    topic,
    partition,
    offset: m.offset,
    key: m.key,
    value: m.value,
    headers,
    timestamp: Number(m.timestamp),
  });
  if ("error" in e) return { kind: "skipped" };
  if (e.kind === "purchase") return { kind: "purchase", event: e.event };
  if (e.kind === "member") return { kind: "member", event: e.event };
  return { kind: "skipped" };
}

/** The end offset (high watermark) of each non-empty partition of the topics, now. */
export async function historyEnds(
  kafka: Kafka,
  topicNames: string[],
): Promise<Map<string, Map<number, number>>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out = new Map<string, Map<number, number>>();
    for (const t of topicNames) {
      const offsets = await admin.fetchTopicOffsets(t);
      out.set(t, new Map(offsets.filter((o) => o.high !== o.low).map((o) => [o.partition, Number(o.high)])));
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/** Purchases and member changes on the namespace's topics, in topic order per partition. */
export async function readTopicHistory(
  kafka: Kafka,
  codec: AvroCodec,
  topics: Topics,
  opts: ReadHistoryOptions,
): Promise<TopicHistory> {
  const names = [topics.purchases.name, topics.memberChanges.name];
  const ends = await historyEnds(kafka, names);
  const out: TopicHistory = { purchases: [], memberEvents: [], records: {}, skipped: 0 };
  for (const n of names) out.records[n] = 0;
  const pending = [...ends.entries()].flatMap(([t, parts]) => [...parts.keys()].map((p) => `${t}/${p}`));
  if (pending.length === 0) return out;
  const reached = new Map<string, number>();
  const consumer = kafka.consumer({ groupId: `${HISTORY_GROUP_PREFIX}${process.pid}-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: names, fromBeginning: true });
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const complete = () => {
      for (const [t, parts] of ends)
        for (const [p, end] of parts) if ((reached.get(`${t}/${p}`) ?? 0) < end) return false;
      return true;
    };
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const key = `${batch.topic}/${batch.partition}`;
        const end = ends.get(batch.topic)?.get(batch.partition) ?? 0;
        for (const m of batch.messages) {
          if (Number(m.offset) >= end) break; // written after the read started
          out.records[batch.topic] = (out.records[batch.topic] ?? 0) + 1;
          const e = await decodeHistoryRecord(codec, topics, batch.topic, batch.partition, m);
          reached.set(key, Number(m.offset) + 1);
          if (e.kind === "skipped") {
            out.skipped++;
            continue;
          }
          if (e.event.eventTime >= opts.to) continue;
          if (e.kind === "purchase") out.purchases.push(e.event);
          else out.memberEvents.push(e.event);
        }
        if (batch.offsetLag() === "0") reached.set(key, Math.max(reached.get(key) ?? 0, end));
        if (complete()) resolveDone();
      },
    });
    const timeout = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(resolveDone, timeout);
    await done;
    clearTimeout(timer);
    if (!complete())
      throw new TransientError(
        `timed out after ${timeout} ms reading ${names.join(" and ")} to their ends (${pending.length} partitions)`,
      );
  } finally {
    await consumer.disconnect();
  }
  return out;
}

import type { AvroCodec, RuleSetPublished, TopicSpec } from "@loyalty/contracts";
import type { Kafka, Producer } from "kafkajs";
import { checksumOf } from "../engine/registry.ts";
import type { RuleSet } from "../rules/types.ts";

// loyalty.rules.v1: writing a publication and reading the compacted topic to its end.

export function publication(ruleSet: RuleSet, publishedAt: number): RuleSetPublished {
  const ruleSetJson = JSON.stringify(ruleSet);
  return {
    ruleSetId: ruleSet.id,
    version: ruleSet.version,
    publishedAt,
    checksum: checksumOf(ruleSetJson),
    ruleSetJson,
  };
}

/**
 * Sends one publication (key = rule-set id, timestamp = publishedAt) with acks=all. The
 * producer is a plain one: no transaction markers in the rules topic.
 */
export async function sendPublication(
  producer: Producer,
  codec: AvroCodec,
  topic: TopicSpec,
  p: RuleSetPublished,
): Promise<void> {
  const value = await codec.encode(topic, p);
  await producer.send({
    topic: topic.name,
    acks: -1,
    messages: [{ key: p.ruleSetId, value, timestamp: String(p.publishedAt) }],
  });
}

export function toMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string") return Number(v);
  return Number.NaN;
}

export function normalisePublication(raw: RuleSetPublished): RuleSetPublished {
  return { ...raw, publishedAt: toMs(raw.publishedAt) };
}

/** Every publication the topic still holds (compacted: the latest per rule-set id, at least). */
export async function readPublications(
  kafka: Kafka,
  codec: AvroCodec,
  topic: string,
): Promise<RuleSetPublished[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, number>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.filter((o) => o.high !== o.low).map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return [];
  const consumer = kafka.consumer({ groupId: `loyalty-cli-rules-${process.pid}-${Date.now()}` });
  const out: RuleSetPublished[] = [];
  const reached = new Map<number, number>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const check = () => {
      for (const [p, end] of ends) if ((reached.get(p) ?? 0) < end) return;
      resolveDone();
    };
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (m.value) out.push(normalisePublication(await codec.decode<RuleSetPublished>(m.value)));
          reached.set(batch.partition, Number(m.offset) + 1);
        }
        if (batch.offsetLag() === "0") reached.set(batch.partition, Number(batch.highWatermark));
        check();
      },
    });
    const timer = setTimeout(resolveDone, 30_000);
    await done;
    clearTimeout(timer);
    for (const [p, end] of ends)
      if ((reached.get(p) ?? 0) < end) throw new Error(`timed out reading ${topic} partition ${p}`);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** The latest publication per rule-set id. */
export function latestById(pubs: readonly RuleSetPublished[]): Map<string, RuleSetPublished> {
  const latest = new Map<string, RuleSetPublished>();
  for (const p of pubs) {
    const cur = latest.get(p.ruleSetId);
    if (cur === undefined || p.version > cur.version) latest.set(p.ruleSetId, p);
  }
  return latest;
}

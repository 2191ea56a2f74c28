import type { AvroCodec, RuleSetPublished, TopicSpec } from "@loyalty/contracts";
import { TransientError } from "@loyalty/stream-runtime";
import { type Kafka, Partitioners, type Producer } from "kafkajs";
import { checksumOf } from "../engine/registry.ts";
import type { RuleSet } from "../rules/types.ts";
import { type Signer, canonicalJson, signPublication } from "./signing.ts";

// loyalty.rules.v1: writing a publication and reading the compacted topic to its end.

/** An unsigned publication of a validated rule set (ruleSetJson: its canonical JSON). */
export function publication(ruleSet: RuleSet, publishedAt: number): RuleSetPublished {
  const ruleSetJson = canonicalJson(ruleSet);
  return {
    ruleSetId: ruleSet.id,
    version: ruleSet.version,
    publishedAt,
    checksum: checksumOf(ruleSetJson),
    ruleSetJson,
    publisher: null,
    keyId: null,
    digest: null,
    signature: null,
  };
}

/** A signed publication: what `loyalty rules publish` sends. */
export function signedPublication(ruleSet: RuleSet, publishedAt: number, signer: Signer): RuleSetPublished {
  return signPublication(publication(ruleSet, publishedAt), signer);
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

/**
 * Publishes one signed rule set (a plain producer of `kafka`, connected for this send): the one
 * path by which anything reaches loyalty.rules.v1 (`loyalty rules publish`, and the tooling that
 * publishes rules/standard on a namespace's empty topic). `kafka` authenticates as the
 * `publisher` principal on a stack with ACLs: no other principal may write the topic.
 */
export async function publishRuleSet(
  kafka: Kafka,
  codec: AvroCodec,
  topic: TopicSpec,
  ruleSet: RuleSet,
  signer: Signer,
  publishedAt: number = Date.now(),
): Promise<RuleSetPublished> {
  const p = signedPublication(ruleSet, publishedAt, signer);
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    await sendPublication(producer, codec, topic, p);
  } finally {
    await producer.disconnect();
  }
  return p;
}

export function toMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string") return Number(v);
  return Number.NaN;
}

export function normalisePublication(raw: RuleSetPublished): RuleSetPublished {
  return {
    ...raw,
    publishedAt: toMs(raw.publishedAt),
    publisher: raw.publisher ?? null,
    keyId: raw.keyId ?? null,
    digest: raw.digest ?? null,
    signature: raw.signature ?? null,
  };
}

/** A record of the rules topic as read back: the publication (null if undecodable) and where it is. */
export interface PublicationRecord {
  partition: number;
  offset: string;
  publication: RuleSetPublished | null;
}

/** Every publication the topic still holds (compacted: the latest per rule-set id, at least). */
export async function readPublications(
  kafka: Kafka,
  codec: AvroCodec,
  topic: string,
): Promise<RuleSetPublished[]> {
  return (await readPublicationRecords(kafka, codec, topic)).flatMap((r) =>
    r.publication === null ? [] : [r.publication],
  );
}

/** Every record of the rules topic with its position; undecodable ones with publication null. */
export async function readPublicationRecords(
  kafka: Kafka,
  codec: AvroCodec,
  topic: string,
): Promise<PublicationRecord[]> {
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
  const out: PublicationRecord[] = [];
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
          let p: RuleSetPublished | null = null;
          if (m.value)
            try {
              p = normalisePublication(await codec.decode<RuleSetPublished>(m.value));
            } catch {
              p = null;
            }
          out.push({ partition: batch.partition, offset: m.offset, publication: p });
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
      if ((reached.get(p) ?? 0) < end) throw new TransientError(`timed out reading ${topic} partition ${p}`);
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

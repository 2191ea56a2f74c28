import type {
  AvroCodec,
  CampaignTriggered,
  ChurnAlert,
  MemberChanged,
  PurchaseEvent,
  Topics,
} from "@loyalty/contracts";
import { frontierOf } from "@loyalty/contracts";
import type { BatchHandler, ConsumedMessage } from "@loyalty/stream-runtime";
import { Partitioners } from "kafkajs";
import type { ChurnJoin } from "./churn-join.ts";
import { type CampaignRow, toMovement } from "./engine/model.ts";
import type { EngineEvent } from "./engine/process.ts";
import type { RulesFeed } from "./rulesets/feed.ts";
import { toMs } from "./rulesets/topic.ts";
import type { BatchOutputs, LedgerStore, Punctuation } from "./store/ledger-store.ts";

// The named steps of a batch: decode -> rules fresh up to the batch's event time -> hold what must
// wait for churn alerts -> ledger transaction (load, price, write) -> record churn-alert's
// frontier -> emit committed movements and campaigns. The runner then commits the outputs and the
// offsets in one Kafka transaction. A batch of purchases ends with a punctuation at its
// partition's stream time (wall mode: the wall clock): the due lots of the partition's members
// expire in the same transactions, so the engine publishes every expiry in ledger order (ADR 16).

/**
 * The partition of a member id on the member-keyed topics (kafkajs' default partitioner, which
 * every producer of the programme uses: murmur2 of the key, as Java clients).
 */
export function memberPartitioner(partitions: number): (memberId: string) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  return (memberId) => partitioner({ topic: "", partitionMetadata, message: { key: memberId, value: null } });
}

export { toMovement };

export function toCampaign(c: CampaignRow): CampaignTriggered {
  return {
    eventId: c.eventId,
    memberId: c.memberId,
    campaignId: c.campaignId,
    ruleId: c.ruleId,
    ruleVersion: c.ruleVersion,
    sourceEventId: c.sourceEventId,
    eventTime: c.eventTime,
    rewardJson: c.rewardJson,
  };
}

/** churn-alert's frontier marker on the alerts topic (ADR 12). */
export interface FrontierMark {
  kind: "frontier";
  partition: number;
  time: number;
}

/** Decodes a message of one of the three input topics into an engine event, or says why not. */
export async function decodeEvent(
  codec: AvroCodec,
  topics: Topics,
  m: ConsumedMessage,
): Promise<EngineEvent | FrontierMark | { error: string }> {
  if (m.topic === topics.churnAlerts.name) {
    const time = frontierOf(m.value, m.headers);
    if (time !== null) return { kind: "frontier", partition: m.partition, time };
  }
  if (!m.value || m.value.length === 0) return { error: "empty payload" };
  let raw: unknown;
  try {
    raw = await codec.decode(m.value);
  } catch (err) {
    return { error: `undecodable: ${(err as Error).message}` };
  }
  const r = raw as { memberId?: unknown; eventId?: unknown; eventTime?: unknown };
  const eventTime = toMs(r.eventTime);
  if (
    typeof r.memberId !== "string" ||
    r.memberId === "" ||
    typeof r.eventId !== "string" ||
    r.eventId === ""
  )
    return { error: "memberId and eventId are required" };
  if (!Number.isSafeInteger(eventTime)) return { error: "eventTime is not a timestamp" };
  if (m.topic === topics.purchases.name) {
    const e = { ...(raw as PurchaseEvent), eventTime };
    if (!Number.isSafeInteger(e.baseAmountMinor) || e.baseAmountMinor < 0)
      return { error: `baseAmountMinor ${e.baseAmountMinor} is not a non-negative integer` };
    return { kind: "purchase", event: e };
  }
  if (m.topic === topics.memberChanges.name)
    return { kind: "member", event: { ...(raw as MemberChanged), eventTime } };
  if (m.topic === topics.churnAlerts.name)
    return { kind: "churn", event: { ...(raw as ChurnAlert), eventTime } };
  return { error: `unexpected topic ${m.topic}` };
}

export interface EarningDeps {
  codec: AvroCodec;
  topics: Topics;
  feed: RulesFeed;
  store: LedgerStore;
  /** Event mode's join with churn alerts; null prices purchases in arrival order. */
  join?: ChurnJoin | null;
  /** Called after the ledger commit, before the handler returns (tests' fault injection). */
  afterCommit?: () => void;
  /** Called after the ledger commit with what it wrote for fresh events (metrics). */
  onWritten?: (written: BatchOutputs["written"]) => void;
  /**
   * The partition of a member on the purchases topic: a purchases batch then expires the due lots
   * of its partition's members at the partition's stream time. Absent: no punctuation.
   */
  partitionOf?: (memberId: string) => number;
}

export function earningHandler(d: EarningDeps): BatchHandler {
  return async (messages, ctx) => {
    const join = d.join ?? null;
    const heartbeat = () => ctx.heartbeat();
    let decoded: Array<EngineEvent | FrontierMark | { error: string }>;
    let end = messages.length;
    if (join !== null && messages[0]?.topic === d.topics.purchases.name) {
      // A purchase past churn-alert's frontier waits, and so does everything after it. Decoded
      // in order up to there: a held partition comes again many times in a replay.
      decoded = [];
      for (const m of messages) {
        const e = await decodeEvent(d.codec, d.topics, m);
        decoded.push(e);
        if (!("event" in e) || e.kind !== "purchase" || e.event.eventTime <= join.frontier) continue;
        await d.feed.ensureFresh(e.event.eventTime, heartbeat);
        if (join.mustWait(e.event.eventTime)) {
          end = decoded.length - 1;
          break;
        }
      }
    } else decoded = await Promise.all(messages.map((m) => decodeEvent(d.codec, d.topics, m)));
    let maxTime = Number.NEGATIVE_INFINITY;
    for (const e of decoded.slice(0, end))
      if ("event" in e && e.event.eventTime > maxTime) maxTime = e.event.eventTime;
    if (maxTime > Number.NEGATIVE_INFINITY) await d.feed.ensureFresh(maxTime, heartbeat);

    const events: EngineEvent[] = [];
    const marks = new Map<number, number>();
    for (let i = 0; i < end; i++) {
      const e = decoded[i]!;
      if ("error" in e) {
        const code = e.error.startsWith("undecodable") ? "MALFORMED_AVRO" : "SCHEMA_VIOLATION";
        ctx.deadLetter(messages[i] as ConsumedMessage, code, e.error);
      } else if (e.kind === "frontier") {
        marks.set(e.partition, Math.max(e.time, marks.get(e.partition) ?? e.time));
      } else events.push(e);
    }
    // A purchases batch punctuates after each record (event mode: at the partition's stream
    // time, which the store keeps; wall mode: now).
    let punctuation: Punctuation | null = null;
    const first = messages[0];
    const partitionOf = d.partitionOf;
    if (partitionOf !== undefined && first?.topic === d.topics.purchases.name) {
      const p = first.partition;
      punctuation = {
        partition: p,
        owns: (memberId) => partitionOf(memberId) === p,
        wallTime: ctx.clock.mode === "event" ? null : ctx.clock.now(),
      };
    }
    const out = events.length > 0 ? await d.store.applyBatch(events, punctuation) : null;
    if (out !== null) {
      d.onWritten?.(out.written);
      d.afterCommit?.();
    }
    // Only now: the alerts before these markers are in the ledger.
    if (join !== null) await join.advance(marks);
    const held = messages[end];
    if (held !== undefined) {
      const e = decoded[end] as EngineEvent;
      ctx.hold(held.offset);
      join?.hold(held.topic, held.partition, e.event.eventTime);
    }
    if (out === null) return;

    // Emit in input order, each source event once: fresh outputs, or those a replay re-emits.
    const emitted = new Set<string>();
    const items: Array<{ topic: string; key: string; timestamp: number; value: Promise<Buffer> }> = [];
    for (const e of events) {
      const id = e.event.eventId;
      if (emitted.has(id)) continue;
      emitted.add(id);
      const o = out.bySource.get(id);
      if (!o) continue;
      for (const x of o.entries) {
        const value = d.codec.encode(d.topics.points, toMovement(x));
        items.push({ topic: d.topics.points.name, key: x.memberId, timestamp: x.eventTime, value });
      }
      for (const c of o.campaigns) {
        const value = d.codec.encode(d.topics.campaigns, toCampaign(c));
        items.push({ topic: d.topics.campaigns.name, key: c.memberId, timestamp: c.eventTime, value });
      }
    }
    const values = await Promise.all(items.map((i) => i.value));
    items.forEach((i, n) => {
      ctx.produce({ topic: i.topic, key: i.key, value: values[n] as Buffer, timestamp: i.timestamp });
    });
  };
}

// The ingestor's batch pipeline, as named steps:
//   replayRecorded -> decode -> dedupe -> resolveMembers -> applyOrderBook -> persist -> emit
// Outputs are recorded per source position in the same PostgreSQL transaction as the state
// they come from; a batch delivered again after a crash re-emits those records unchanged.
import {
  type DlqReasonCode,
  type MemberChanged,
  type MemberEvent,
  type OrderEvent,
  type PurchaseEvent,
  type Topics,
  isRegistryFramed,
  sourceHeaders,
} from "@loyalty/contracts";
import type { AvroCodec } from "@loyalty/contracts";
import type { BatchContext, ConsumedMessage } from "@loyalty/stream-runtime";
import type { IngestorSettings } from "./config.ts";
import {
  type BookOutcome,
  type OrderSlot,
  type Result,
  applyOrderEvent,
  autoEnrolment,
  autoEnrolmentEventId,
  decodeJson,
  emptySlot,
  expireHeld,
  memberEventId,
  memberIdFor,
  nextExpiry,
  normaliseMember,
  normaliseOrder,
  orderEventId,
  orderKey,
  validateMember,
  validateOrder,
} from "./domain/index.ts";
import type { HeldMessage, IngestStore, IngestTx, MemberRow } from "./store.ts";

/** What one source message led to; stored as JSON, re-emitted verbatim on a replay. */
export type Output =
  | { kind: "purchase"; record: PurchaseEvent }
  | { kind: "member"; record: MemberChanged }
  | { kind: "dlq"; code: DlqReasonCode; reason: string; held?: HeldMessage };

export interface BatchStats {
  accepted: number;
  duplicates: number;
  rejected: number;
  held: number;
  replayed: number;
}

type Parsed =
  | { kind: "order"; event: OrderEvent; eventId: string }
  | { kind: "member"; event: MemberEvent; eventId: string }
  | { kind: "reject"; code: DlqReasonCode; reason: string };

export class IngestPipeline {
  constructor(
    private readonly topics: Topics,
    private readonly codec: AvroCodec,
    private readonly store: IngestStore,
    private readonly settings: IngestorSettings,
  ) {}

  async handle(messages: ConsumedMessage[], ctx: BatchContext): Promise<BatchStats> {
    const stats: BatchStats = { accepted: 0, duplicates: 0, rejected: 0, held: 0, replayed: 0 };
    const first = messages[0];
    if (!first) return stats;
    const { topic, partition } = first;

    const recorded = await this.store.recordedOutcomes(
      topic,
      partition,
      messages.map((m) => m.offset),
    );
    const fresh = messages.filter((m) => !recorded.has(m.offset));
    const outputs = new Map<string, Output[]>();
    if (fresh.length > 0) {
      const parsed = await this.decode(fresh);
      await this.store.transaction(async (tx) => {
        await this.process(tx, topic, partition, fresh, parsed, outputs, stats);
        await tx.recordOutcomes(topic, partition, outputs);
        await tx.addCounters({
          accepted: stats.accepted,
          duplicates: stats.duplicates,
          rejected: stats.rejected,
        });
        // Outcomes already committed in Kafka are no longer needed. Not first.offset: this may be
        // the second half of a chunk whose first half is still waiting to commit.
        await tx.pruneOutcomes(topic, partition, ctx.committedBefore);
      });
    }
    for (const m of messages) {
      const out = recorded.get(m.offset) ?? outputs.get(m.offset) ?? [];
      if (recorded.has(m.offset)) stats.replayed++;
      await this.emit(m, out, ctx);
    }
    return stats;
  }

  /** decode: bytes -> a validated upstream event, or the reason it can never be one. */
  private async decode(messages: ConsumedMessage[]): Promise<Parsed[]> {
    const out: Parsed[] = [];
    for (const m of messages) {
      const isOrders = m.topic === this.topics.orders.name;
      let value: Result<unknown>;
      if (m.value && isRegistryFramed(m.value)) value = await this.decodeAvro(m.value);
      else value = decodeJson(m.value, this.settings.limits);
      if (!value.ok) {
        out.push({ kind: "reject", code: value.code, reason: value.reason });
        continue;
      }
      if (isOrders) {
        const v = validateOrder(value.value);
        out.push(
          v.ok
            ? { kind: "order", event: v.value, eventId: orderEventId(v.value) }
            : { kind: "reject", code: v.code, reason: v.reason },
        );
      } else {
        const v = validateMember(value.value);
        out.push(
          v.ok
            ? { kind: "member", event: v.value, eventId: memberEventId(v.value) }
            : { kind: "reject", code: v.code, reason: v.reason },
        );
      }
    }
    return out;
  }

  private async decodeAvro(buf: Buffer): Promise<Result<unknown>> {
    if (buf.length > this.settings.limits.maxBytes) {
      return {
        ok: false,
        code: "OVERSIZE_PAYLOAD",
        reason: `${buf.length} bytes exceed the limit of ${this.settings.limits.maxBytes}`,
      };
    }
    try {
      return { ok: true, value: await this.codec.decode<unknown>(buf) };
    } catch (err) {
      const msg = (err as Error).message ?? String(err);
      // The registry answers 404 for an id it does not know; anything else is a broken body.
      if (/not found|40403|404/i.test(msg))
        return {
          ok: false,
          code: "UNKNOWN_SCHEMA_ID",
          reason: `schema id ${buf.readInt32BE(1)} is unknown to the registry`,
        };
      if ((err as { retriable?: boolean }).retriable) throw err;
      return {
        ok: false,
        code: "MALFORMED_AVRO",
        reason: `cannot decode Avro with schema id ${buf.readInt32BE(1)}: ${msg}`,
      };
    }
  }

  private async process(
    tx: IngestTx,
    topic: string,
    partition: number,
    messages: ConsumedMessage[],
    parsed: Parsed[],
    outputs: Map<string, Output[]>,
    stats: BatchStats,
  ): Promise<void> {
    const push = (offset: string, o: Output) => {
      const list = outputs.get(offset);
      if (list) list.push(o);
      else outputs.set(offset, [o]);
    };

    // dedupe: an event id first seen at another position is a duplicate (counted, dropped). Each
    // id's first occurrence in the batch is recorded here, in the batch's transaction.
    const firsts = new Map<string, { eventId: string; offset: string }>();
    parsed.forEach((p, i) => {
      if (p.kind !== "reject" && !firsts.has(p.eventId))
        firsts.set(p.eventId, { eventId: p.eventId, offset: messages[i]!.offset });
    });
    const seen = await tx.claimEvents([...firsts.values()], topic, partition);
    const firstSeenHere = new Set<string>();

    // resolveMembers: one read for the batch.
    const memberIds = new Set<string>();
    for (const p of parsed)
      if (p.kind !== "reject")
        memberIds.add(memberIdFor(p.event.customerId, p.event.source, this.settings.memberIds));
    const members = await tx.loadMembers([...memberIds]);

    // applyOrderBook: the batch's slots plus those of this partition with holds due in its time span.
    const keys = new Set<string>();
    for (const p of parsed) if (p.kind === "order") keys.add(orderKey(p.event.source, p.event.orderId));
    let maxTime = Number.NEGATIVE_INFINITY;
    for (const m of messages) if (m.timestamp > maxTime) maxTime = m.timestamp;
    const slots = await tx.loadSlots([...keys], { topic, partition, dueBy: maxTime });
    // Only slots with held refunds can expire: scanning every slot per message was O(n²) per batch.
    const holding = new Set([...slots].filter(([, sl]) => sl.held.length > 0).map(([k]) => k));
    const touched = new Set<string>();

    let clock = await tx.partitionTime(topic, partition);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const p = parsed[i]!;
      if (m.timestamp > clock) clock = m.timestamp;

      // Holds of this partition expire on its own event time, checked before each message so
      // the outcome is the same whatever the batch boundaries.
      for (const key of holding) {
        const slot = slots.get(key)!;
        const due = nextExpiry(slot, this.settings.holdMs);
        const owner = tx.holdOwner(key);
        if (due === null || due > clock || owner?.topic !== topic || owner.partition !== partition) continue;
        const t = expireHeld(slot, clock, this.settings.holdMs);
        slots.set(key, t.slot);
        touched.add(key);
        if (t.slot.held.length === 0) holding.delete(key);
        for (const o of t.outcomes) {
          if (o.status !== "rejected") continue;
          const held = await tx.takeHeldMessage(o.eventId);
          push(m.offset, { kind: "dlq", code: o.code, reason: o.reason, ...(held ? { held } : {}) });
          stats.rejected++;
        }
      }

      if (p.kind === "reject") {
        push(m.offset, { kind: "dlq", code: p.code, reason: p.reason });
        stats.rejected++;
        continue;
      }
      const prior = seen.get(p.eventId);
      if (
        (prior !== undefined && prior !== `${topic}/${partition}/${m.offset}`) ||
        firstSeenHere.has(p.eventId)
      ) {
        stats.duplicates++;
        continue;
      }
      firstSeenHere.add(p.eventId);

      const memberId = memberIdFor(p.event.customerId, p.event.source, this.settings.memberIds);
      if (p.kind === "member") {
        const known = members.get(memberId);
        const registered: MemberRow = {
          memberId,
          enrolledAt: known?.enrolledAt ?? p.event.occurredAt,
          enrolledVia: known?.enrolledVia ?? "registration",
          registered: true,
        };
        members.set(memberId, registered);
        tx.upsertMember(registered);
        push(m.offset, { kind: "member", record: normaliseMember(p.event, this.settings.memberIds) });
        stats.accepted++;
        continue;
      }

      const order = p.event;
      if (!members.has(memberId)) {
        if (!this.settings.autoEnrol) {
          push(m.offset, {
            kind: "dlq",
            code: "UNKNOWN_CUSTOMER",
            reason: `customer ${order.customerId} (source ${order.source}) is not enrolled`,
          });
          stats.rejected++;
          continue;
        }
        const row: MemberRow = {
          memberId,
          enrolledAt: order.occurredAt,
          enrolledVia: "auto-enrolment",
          registered: false,
        };
        members.set(memberId, row);
        tx.upsertMember(row);
        const enrol = autoEnrolment(order, this.settings.memberIds);
        push(m.offset, { kind: "member", record: { ...enrol, eventId: autoEnrolmentEventId(memberId) } });
      }

      const key = orderKey(order.source, order.orderId);
      const slot: OrderSlot = slots.get(key) ?? emptySlot(order.source, order.orderId);
      const t = applyOrderEvent(slot, order, clock);
      slots.set(key, t.slot);
      touched.add(key);
      if (t.slot.held.length > 0) holding.add(key);
      else holding.delete(key);
      // The partition where a slot's first hold arrived owns its expiry.
      if (t.slot.held.length > 0 && !tx.holdOwner(key)) tx.setHoldOwner(key, { topic, partition });
      for (const o of t.outcomes) this.outcome(o, m, push, stats, tx);
    }

    for (const key of touched) {
      const slot = slots.get(key)!;
      const due = nextExpiry(slot, this.settings.holdMs);
      const owner = tx.holdOwner(key);
      tx.saveSlot(key, slot, due === null || !owner ? null : { ...owner, dueAt: due });
    }
    tx.setPartitionTime(topic, partition, clock);
  }

  private outcome(
    o: BookOutcome,
    m: ConsumedMessage,
    push: (offset: string, o: Output) => void,
    stats: BatchStats,
    tx: IngestTx,
  ): void {
    switch (o.status) {
      case "accepted": {
        const n = normaliseOrder(o.event, {
          memberId: memberIdFor(o.event.customerId, o.event.source, this.settings.memberIds),
          fx: this.settings.fx,
          rateTime: o.rateTime,
          applied: { amountMinor: o.amountMinor, refundedLineIds: o.refundedLineIds },
        });
        if (n.ok) {
          push(m.offset, { kind: "purchase", record: n.value });
          stats.accepted++;
        } else {
          push(m.offset, { kind: "dlq", code: n.code, reason: n.reason });
          stats.rejected++;
        }
        tx.dropHeldMessage(o.eventId);
        return;
      }
      case "held":
        tx.holdMessage(o.eventId, m);
        stats.held++;
        return;
      case "duplicate":
        stats.duplicates++;
        return;
      case "rejected":
        push(m.offset, { kind: "dlq", code: o.code, reason: o.reason });
        stats.rejected++;
        tx.dropHeldMessage(o.eventId);
        return;
    }
  }

  /**
   * emit: outputs go into the batch's Kafka transaction, keyed by member id, each naming the
   * source partition it came from (downstream watermarks track event time per source).
   */
  private async emit(m: ConsumedMessage, outputs: Output[], ctx: BatchContext): Promise<void> {
    for (const o of outputs) {
      if (o.kind === "purchase") {
        ctx.produce({
          topic: this.topics.purchases.name,
          key: o.record.memberId,
          value: await this.codec.encode(this.topics.purchases, o.record),
          timestamp: o.record.eventTime,
          headers: sourceHeaders(m.topic, m.partition),
        });
      } else if (o.kind === "member") {
        ctx.produce({
          topic: this.topics.memberChanges.name,
          key: o.record.memberId,
          value: await this.codec.encode(this.topics.memberChanges, o.record),
          timestamp: o.record.eventTime,
          headers: sourceHeaders(m.topic, m.partition),
        });
      } else if (o.held) {
        const h = o.held;
        ctx.deadLetter(
          {
            topic: h.topic,
            partition: h.partition,
            offset: h.offset,
            key: h.key,
            value: h.value,
            headers: h.headers,
            timestamp: h.timestamp,
          },
          o.code,
          o.reason,
        );
      } else {
        ctx.deadLetter(m, o.code, o.reason);
      }
    }
  }
}

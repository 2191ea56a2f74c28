// The batch handler and the time tick. Input events are recorded (idempotently, by event id) and
// the engine is moved to the watermark in the same PostgreSQL transaction; alerts go out with the
// batch's Kafka transaction. A redelivered batch re-emits the alerts its first attempt raised
// (looked up by the trigger message), so a crash between the two commits loses nothing and,
// in transactional mode, duplicates nothing. Alerts raised by a tick (no input batch to tie them
// to) go through an outbox: emitted until confirmed by the next step, so at least once.
// In event mode every step ends with a frontier marker in each alerts partition (ADR 12): the
// alerts up to the engine's frontier are all in Kafka before it, which is what lets the rules
// engine join purchases with alerts in event time.

import type { PurchaseEvent as CanonicalPurchase, ChurnAlert as ChurnAlertRecord } from "@loyalty/contracts";
import { SOURCE_HEADER, frontierHeaders, sourceOf } from "@loyalty/contracts";
import { type PoolClient, inTransaction } from "@loyalty/db";
import type { BatchContext, ConsumedMessage, ServiceKit } from "@loyalty/stream-runtime";
import type { ChurnSettings } from "./config.ts";
import { advance } from "./engine-step.ts";
import type { MemberEvent, ModelNumericError } from "./model/index.ts";
import {
  type IncomingEvent,
  alertsTriggeredIn,
  allSummaries,
  insertEvents,
  loadEngine,
  markPublished,
  nextOffsets,
  oldestUnpublishedTickAlert,
  recordPartition,
  recordSourceClocks,
  sourceClocks,
  unpublishedTickAlerts,
} from "./store/members.ts";
import { SummaryCache } from "./store/summary-cache.ts";
import { type SourceKey, sourceWatermark } from "./watermark.ts";

/** Canonical event -> the model's event. Order ids are per source, so the key carries both. */
export function toMemberEvent(p: CanonicalPurchase): MemberEvent {
  const orderId = `${p.source}/${p.orderId}`;
  switch (p.type) {
    case "PURCHASE":
      return {
        type: "purchase",
        eventId: p.eventId,
        orderId,
        eventTime: p.eventTime,
        amountMinor: p.baseAmountMinor,
      };
    case "REFUND":
      return { type: "refund", eventId: p.eventId, orderId, amountMinor: p.baseAmountMinor };
    case "CANCELLATION":
      return { type: "cancellation", eventId: p.eventId, orderId };
  }
}

/** Why a decoded event cannot be used, or null. */
export function invalidReason(p: CanonicalPurchase): string | null {
  if (p.memberId === "") return "empty memberId";
  if (!Number.isSafeInteger(p.eventTime)) return `eventTime ${p.eventTime} is not a timestamp`;
  if (!Number.isSafeInteger(p.baseAmountMinor) || p.baseAmountMinor < 0)
    return `baseAmountMinor ${p.baseAmountMinor} is not a non-negative integer`;
  return null;
}

export interface Pipeline {
  handler(messages: ConsumedMessage[], ctx: BatchContext): Promise<void>;
  onTick(ctx: BatchContext): Promise<void>;
}

/** What the pipeline needs to know of its input beyond the records (from Kafka's metadata). */
export interface InputTopology {
  /** Partition count of the input topic. */
  readonly partitions: number;
  /** The input partitions' end offsets. */
  endOffsets(): Promise<{ partition: number; high: number }[]>;
  /** Partition count of the alerts topic (a frontier marker goes into each). */
  readonly alertPartitions: number;
}

/**
 * The frontier a marker may promise when alerts from `pending` on may not be in Kafka yet (tick
 * alerts not confirmed sent): just short of them.
 */
function markable(frontier: number | null, pending: number | null): number | null {
  return frontier === null || pending === null ? frontier : Math.min(frontier, pending - 1);
}

/** The pair key of a record's source: its well-formed SOURCE_HEADER, "" when it names none. */
function sourceKey(m: ConsumedMessage): SourceKey {
  return sourceOf(m.headers) === null ? "" : (m.headers[SOURCE_HEADER] ?? "");
}

export function createPipeline(
  kit: ServiceKit,
  settings: ChurnSettings,
  input: InputTopology,
  idleMs: number,
): Pipeline {
  const topic = kit.topics.purchases.name;
  const alertsTopic = kit.topics.churnAlerts;
  let unconfirmed: string[] = [];
  // Refits read every member's summary: kept in memory between steps (see SummaryCache).
  const summaries = new SummaryCache(allSummaries);
  // A member whose score the model could not compute (the score fell back to "no model").
  const modelErrors = kit.metrics.counter(
    "loyalty_churn_model_errors_total",
    "Churn scores the model could not compute, by kind",
    ["kind"],
  );
  const onModelError = (e: ModelNumericError) => modelErrors.inc({ kind: e.kind });
  // Since when (monotonic ms) every input partition has stood consumed to these end offsets.
  let quiet: { ends: string; since: number } | null = null;
  // The last frontier marked, so an idle tick does not mark the same one again.
  let marked = Number.NEGATIVE_INFINITY;

  /**
   * Event mode: the minimum over (input partition, source partition) pairs of the highest event
   * time consumed (see watermark.ts), from PostgreSQL, so a restart resumes where the committed
   * state is (the runtime's in-memory clock knows only the partitions seen since the start).
   * The tail past it (a finished replay, or a source gone quiet) is released once every input
   * partition has stood consumed to its end, nothing new arriving, for `idleMs`: a pause of the
   * ingestor shorter than that mid-replay leaves no trace in the result. Wall mode: the wall clock.
   */
  async function watermark(c: PoolClient, tail: boolean): Promise<number | null> {
    if (kit.clock.mode === "wall") return kit.clock.now();
    const clocks = await sourceClocks(c, topic);
    const wm = sourceWatermark(input.partitions, clocks);
    if (!tail || clocks.length === 0) return wm;
    const latest = Math.max(...clocks.map((x) => x.time));
    if (wm === latest) return wm;
    const [consumed, ends] = await Promise.all([nextOffsets(c, topic), input.endOffsets()]);
    // A transactional producer (the ingestor) ends a partition with a commit marker, one offset
    // past its last record: a gap of one is "consumed to the end".
    const done = ends.every(({ partition, high }) => (consumed.get(partition) ?? 0) >= high - 1);
    if (!done) {
      quiet = null;
      return wm;
    }
    const key = ends.map((e) => `${e.partition}:${e.high}`).join(",");
    const now = performance.now();
    if (quiet?.ends !== key) quiet = { ends: key, since: now };
    return now - quiet.since >= idleMs ? latest : wm;
  }

  async function emit(ctx: BatchContext, alerts: readonly ChurnAlertRecord[]): Promise<void> {
    for (const a of alerts) {
      ctx.produce({
        topic: alertsTopic.name,
        key: a.memberId,
        value: await kit.codec.encode(alertsTopic, a),
        timestamp: a.eventTime,
      });
    }
  }

  /** A marker per alerts partition, after this step's alerts (same transaction, same order). */
  function mark(ctx: BatchContext, frontier: number | null): void {
    if (kit.clock.mode !== "event" || frontier === null || frontier <= marked) return;
    for (let partition = 0; partition < input.alertPartitions; partition++) {
      ctx.produce({
        topic: alertsTopic.name,
        key: null,
        value: null,
        partition,
        headers: frontierHeaders(frontier),
        timestamp: frontier,
      });
    }
    marked = frontier;
  }

  return {
    async handler(messages, ctx) {
      const first = messages[0];
      const last = messages[messages.length - 1];
      if (first === undefined || last === undefined) return;
      const events: IncomingEvent[] = [];
      const clocks = new Map<SourceKey, number>();
      for (const m of messages) {
        if (m.value === null) {
          ctx.deadLetter(m, "EMPTY_PAYLOAD");
          continue;
        }
        let p: CanonicalPurchase;
        try {
          p = await kit.codec.decode<CanonicalPurchase>(m.value);
        } catch (err) {
          ctx.deadLetter(m, "MALFORMED_AVRO", err instanceof Error ? err.message : String(err));
          continue;
        }
        const bad = invalidReason(p);
        if (bad !== null) {
          ctx.deadLetter(m, bad.startsWith("eventTime") ? "INVALID_TIMESTAMP" : "SCHEMA_VIOLATION", bad);
          continue;
        }
        events.push({ eventId: p.eventId, memberId: p.memberId, time: p.eventTime, event: toMemberEvent(p) });
        const source = sourceKey(m);
        if (p.eventTime > (clocks.get(source) ?? Number.NEGATIVE_INFINITY)) clocks.set(source, p.eventTime);
      }
      const out = await inTransaction(kit.pool, async (c) => {
        // Locked: the frontier decides which new events advance() must apply from memory.
        const engine = await loadEngine(c, true);
        const frontier = engine.frontier;
        const fresh = await insertEvents(c, events, frontier);
        const late = frontier === null ? [] : fresh.filter((e) => e.time <= frontier);
        const behind = late.filter((e) => e.time < (frontier ?? 0)).length;
        if (behind > 0) kit.logger.warn({ late: behind }, "events behind the churn engine's frontier");
        const next = (BigInt(last.offset) + 1n).toString();
        await recordPartition(c, topic, first.partition, next);
        await recordSourceClocks(c, topic, first.partition, clocks);
        const again = await alertsTriggeredIn(c, topic, first.partition, first.offset, last.offset);
        // No watermark (a partition without events yet) but late events: apply them at the frontier.
        const wm = (await watermark(c, false)) ?? frontier;
        if (wm === null) return { alerts: again, generation: null, marker: null };
        const trigger = { topic, partition: first.partition, offset: last.offset };
        const hooks = { heartbeat: () => ctx.heartbeat(), stopping: () => ctx.signal.aborted, onModelError };
        const step = await advance(c, wm, settings, trigger, kit.logger, hooks, late, summaries);
        // A tick's alerts not yet confirmed sent may still be on their way: mark short of them.
        const marker =
          kit.clock.mode === "event" ? markable(step.frontier, await oldestUnpublishedTickAlert(c)) : null;
        return { alerts: [...again, ...step.alerts], generation: step.generation, marker };
      });
      if (out.generation !== null) summaries.committed(out.generation);
      await emit(ctx, out.alerts);
      mark(ctx, out.marker);
    },

    async onTick(ctx) {
      const confirm = unconfirmed;
      const out = await inTransaction(kit.pool, async (c) => {
        await markPublished(c, confirm);
        const wm = await watermark(c, true);
        const hooks = { heartbeat: () => ctx.heartbeat(), stopping: () => ctx.signal.aborted, onModelError };
        const step =
          wm === null ? null : await advance(c, wm, settings, null, kit.logger, hooks, [], summaries);
        const { alerts, complete } = await unpublishedTickAlerts(c);
        const frontier = step?.frontier ?? (await loadEngine(c, false)).frontier;
        // Every unconfirmed tick alert goes out before the marker, unless there were too many.
        const marker = markable(frontier, complete ? null : (alerts[alerts.length - 1]?.eventTime ?? null));
        return { alerts, generation: step?.generation ?? null, marker };
      });
      if (out.generation !== null) summaries.committed(out.generation);
      unconfirmed = out.alerts.map((a) => a.eventId);
      await emit(ctx, out.alerts);
      mark(ctx, out.marker);
    },
  };
}

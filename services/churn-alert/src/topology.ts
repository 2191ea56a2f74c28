// churn-alert as one task over all partitions of loyalty.purchases.v1 (ADR 16): its population
// fit needs every partition's members. The stream runtime hands each fetch's records of all
// partitions to `step` in one PostgreSQL transaction, at the group's watermark (the minimum
// over (partition, source) lanes, ADR 8's idle rule for the tail), and keeps the offsets, the
// lane clocks and the step's output in stream_tasks in that same transaction: a crash between
// the PostgreSQL and the Kafka commit re-sends the output, so every alert goes out exactly once.
// Decode and validation are pure (decode below); the event-time engine (engine-step.ts) moves
// member state, fits and due times in the step's transaction.
// In event mode every step that moves the frontier ends with a frontier marker in each alerts
// partition (ADR 12): the alerts up to it are all in Kafka before it, which is what lets the
// rules engine join purchases with alerts in event time.

import type {
  AvroCodec,
  PurchaseEvent as CanonicalPurchase,
  ChurnAlert as ChurnAlertRecord,
  TopicSpec,
} from "@loyalty/contracts";
import { SOURCE_HEADER, frontierHeaders, sourceOf } from "@loyalty/contracts";
import type { PoolClient } from "@loyalty/db";
import type {
  ConsumedMessage,
  GroupRecord,
  GroupStep,
  GroupTopology,
  TaskOutput,
} from "@loyalty/stream-runtime";
import type { ChurnSettings } from "./config.ts";
import { type StepLog, advance } from "./engine-step.ts";
import type { MemberEvent, ModelNumericError } from "./model/index.ts";
import { MemberMemory } from "./store/member-memory.ts";
import {
  type IncomingEvent,
  bumpGeneration,
  eventsAfter,
  insertEvents,
  loadAllMembers,
  loadEngine,
} from "./store/members.ts";

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

/**
 * A record's lane (see the runtime's watermark.ts): the upstream partition named by its
 * well-formed SOURCE_HEADER, "" when it names none. Within one (input partition, source) pair
 * records arrive in the source's order; an input partition can interleave several sources.
 */
export function sourceLane(m: ConsumedMessage): string {
  return sourceOf(m.headers) === null ? "" : (m.headers[SOURCE_HEADER] ?? "");
}

export interface ChurnTopologyDeps {
  readonly codec: AvroCodec;
  readonly alerts: TopicSpec;
  /** Partition count of the alerts topic (a frontier marker goes into each). */
  readonly alertPartitions: number;
  readonly settings: ChurnSettings;
  readonly mode: "event" | "wall";
  readonly log: StepLog;
  /** A member whose score the model could not compute (the score fell back to "no model"). */
  readonly onModelError: (e: ModelNumericError) => void;
}

/** The step's decision as the transaction leaves it, applied to memory once it has committed. */
interface Stepped {
  generation: number | null;
  marked: number | null;
}

export function churnTopology(deps: ChurnTopologyDeps): GroupTopology<IncomingEvent> {
  const { codec, settings } = deps;
  // Members, due times, summaries and pending events: held by the task, loaded at its first step.
  const members = new MemberMemory({ members: loadAllMembers, eventsAfter });
  // The last frontier marked, so a step that does not move it marks nothing.
  let marked = Number.NEGATIVE_INFINITY;
  let last: Stepped | null = null;

  async function emit(out: TaskOutput, alerts: readonly ChurnAlertRecord[]): Promise<void> {
    for (const a of alerts) {
      out.produce({
        topic: deps.alerts.name,
        key: a.memberId,
        value: await codec.encode(deps.alerts, a),
        timestamp: a.eventTime,
      });
    }
  }

  /** A marker per alerts partition, after this step's alerts (same transaction, same order). */
  function mark(out: TaskOutput, frontier: number | null): number | null {
    if (deps.mode !== "event" || frontier === null || frontier <= marked) return null;
    for (let partition = 0; partition < deps.alertPartitions; partition++) {
      out.produce({
        topic: deps.alerts.name,
        key: null,
        value: null,
        partition,
        headers: frontierHeaders(frontier),
        timestamp: frontier,
      });
    }
    return frontier;
  }

  const hooksOf = (at: GroupStep) => ({
    heartbeat: () => at.heartbeat(),
    stopping: () => at.stopping,
    onModelError: deps.onModelError,
  });

  /**
   * Records the batch's events: those after the frontier wait in memory until event time
   * reaches them; returns the late ones (at or before it), which advance() applies now.
   */
  async function record(
    c: PoolClient,
    records: readonly GroupRecord<IncomingEvent>[],
    frontier: number | null,
  ) {
    const fresh = await insertEvents(
      c,
      records.map((r) => r.value),
      frontier,
    );
    const late = frontier === null ? [] : fresh.filter((e) => e.time <= frontier);
    members.received(frontier === null ? fresh : fresh.filter((e) => e.time > frontier));
    const behind = late.filter((e) => e.time < (frontier ?? 0)).length;
    if (behind > 0) deps.log.warn({ late: behind }, "events behind the churn engine's frontier");
    return { recorded: fresh.length > 0, late };
  }

  return {
    async decode(m, out) {
      if (m.value === null) {
        out.deadLetter(m, "EMPTY_PAYLOAD");
        return null;
      }
      let p: CanonicalPurchase;
      try {
        p = await codec.decode<CanonicalPurchase>(m.value);
      } catch (err) {
        out.deadLetter(m, "MALFORMED_AVRO", err instanceof Error ? err.message : String(err));
        return null;
      }
      const bad = invalidReason(p);
      if (bad !== null) {
        out.deadLetter(m, bad.startsWith("eventTime") ? "INVALID_TIMESTAMP" : "SCHEMA_VIOLATION", bad);
        return null;
      }
      const value = { eventId: p.eventId, memberId: p.memberId, time: p.eventTime, event: toMemberEvent(p) };
      return { value, time: p.eventTime };
    },

    lane: sourceLane,

    async step(c, records, at, out) {
      if (at.punctuation && at.time === null) {
        last = { generation: null, marked: mark(out, (await loadEngine(c, false)).frontier) };
        return;
      }
      // Locked: the frontier decides which new events advance() must apply from memory.
      const engine = await loadEngine(c, true);
      await members.begin(c, engine);
      const { recorded, late } = at.punctuation
        ? { recorded: false, late: [] }
        : await record(c, records, engine.frontier);
      // No watermark (a partition without events yet) but late events: apply them at the frontier.
      const to = at.time ?? engine.frontier;
      const step =
        to === null ? null : await advance(c, engine, to, settings, members, deps.log, hooksOf(at), late);
      let generation = step?.generation ?? engine.generation;
      // Events held in memory are state too: another instance's copy must see that they moved.
      if (recorded && generation === engine.generation) generation = await bumpGeneration(c);
      await emit(out, step?.alerts ?? []);
      last = { generation, marked: mark(out, step?.frontier ?? engine.frontier) };
    },

    committed() {
      if (last === null) return;
      if (last.generation !== null) members.committed(last.generation);
      if (last.marked !== null) marked = last.marked;
      last = null;
    },
  };
}

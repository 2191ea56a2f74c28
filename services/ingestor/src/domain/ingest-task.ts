// What one upstream record does to a task's state (ADR 16): the ingestor's decision after
// decode and validation, for partition p of orders.v1 and members.v1 (both keyed by customer
// id, so a customer's orders, refunds and registrations are all in one task). Pure: the state
// is plain maps in memory, time is passed in (the task's stream time), no I/O.
//
// Steps per record: expire holds due by `now` -> reject? -> dedupe on the event id ->
// check the member is known (or may be auto-enrolled) -> order book -> normalise (FX) -> enrol an
// unknown member just before their first purchase that is emitted, never for a rejected or held
// event (a refund of an order never seen must not enrol anyone: issue 21, nothing derived from
// rejected input reaches the rules engine).
import type {
  DlqReasonCode,
  MemberChanged,
  MemberEvent,
  OrderEvent,
  PurchaseEvent,
} from "@loyalty/contracts";
import { autoEnrolmentEventId } from "./event-id.ts";
import type { FxTable } from "./fx.ts";
import { type MemberIdPolicy, memberIdFor } from "./member-id.ts";
import { autoEnrolment, normaliseMember, normaliseOrder } from "./normalise.ts";
import {
  type BookOutcome,
  type OrderSlot,
  applyOrderEvent,
  emptySlot,
  expireHeld,
  nextExpiry,
  orderKey,
} from "./order-book.ts";

/** An upstream record as consumed: a held refund's is kept to dead-letter it byte for byte. */
export interface SourceRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** The headers as they came (one entry per value, bytes): what a dead letter keeps. */
  headerEntries?: ReadonlyArray<{ key: string; value: Buffer | null }>;
}

/** A record after decode and validation, or the reason it can never be an event. */
export type Parsed =
  | { kind: "order"; event: OrderEvent; eventId: string }
  | { kind: "member"; event: MemberEvent; eventId: string }
  | { kind: "reject"; code: DlqReasonCode; reason: string };

/** What a record (or an expiry) leads to. A dead letter names the record it is about. */
export type Output =
  | { kind: "purchase"; record: PurchaseEvent }
  | { kind: "member"; record: MemberChanged }
  | { kind: "dlq"; code: DlqReasonCode; reason: string; record: SourceRecord };

export interface MemberRow {
  memberId: string;
  enrolledAt: number;
  enrolledVia: string;
  registered: boolean;
}

export interface IngestRules {
  fx: FxTable;
  memberIds: MemberIdPolicy;
  autoEnrol: boolean;
  holdMs: number;
}

export interface IngestCounts {
  accepted: number;
  duplicates: number;
  rejected: number;
  held: number;
}

/** What changed since the task's state was last written (see store.ts). */
export interface IngestChanges {
  slots: Set<string>;
  members: Set<string>;
  /** Held records added or dropped: present in `held` = written, absent = deleted. */
  held: Set<string>;
  /** Event ids seen for the first time, with where. */
  events: Array<{ eventId: string; record: SourceRecord }>;
  counts: IngestCounts;
}

export interface IngestState {
  /** Order-book slots of this partition's orders, by orderKey. */
  readonly slots: Map<string, OrderSlot>;
  /** Keys of the slots holding refunds: only they can expire. */
  readonly holding: Set<string>;
  /** No hold falls due before this time (a lower bound; exact after a scan). */
  nextDue: number;
  /** The original records of held refunds, by event id. */
  readonly held: Map<string, SourceRecord>;
  /** The members this partition has enrolled. */
  readonly members: Map<string, MemberRow>;
  /** Every event id this partition has seen (upstream duplicates are dropped by it). */
  readonly seen: Set<string>;
  /**
   * The highest record timestamp applied to this state: the task's stream time as it moves
   * within a batch (the runtime's `task.streamTime` is the one at the batch's start).
   */
  time: number;
  readonly changes: IngestChanges;
}

export const noCounts = (): IngestCounts => ({ accepted: 0, duplicates: 0, rejected: 0, held: 0 });

export function noChanges(): IngestChanges {
  return { slots: new Set(), members: new Set(), held: new Set(), events: [], counts: noCounts() };
}

/** A state from what is stored; `holding` and `nextDue` follow from the slots. */
export function ingestState(parts: {
  slots?: Map<string, OrderSlot>;
  held?: Map<string, SourceRecord>;
  members?: Map<string, MemberRow>;
  seen?: Set<string>;
}): IngestState {
  const slots = parts.slots ?? new Map<string, OrderSlot>();
  const holding = new Set<string>();
  for (const [key, slot] of slots) if (slot.held.length > 0) holding.add(key);
  return {
    slots,
    holding,
    nextDue: holding.size > 0 ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY,
    held: parts.held ?? new Map(),
    members: parts.members ?? new Map(),
    seen: parts.seen ?? new Set(),
    time: Number.NEGATIVE_INFINITY,
    changes: noChanges(),
  };
}

/**
 * Rejects, as ORPHAN_REFUND_TIMEOUT with their own records, the held refunds whose hold period
 * has passed at event time `now`; in order of due time, then order key.
 */
export function expireHolds(state: IngestState, now: number, rules: IngestRules): Output[] {
  if (state.holding.size === 0 || now < state.nextDue) return [];
  const due: Array<{ key: string; at: number }> = [];
  let next = Number.POSITIVE_INFINITY;
  for (const key of state.holding) {
    const slot = state.slots.get(key);
    const at = slot ? nextExpiry(slot, rules.holdMs) : null;
    if (at === null) continue;
    if (at <= now) due.push({ key, at });
    else if (at < next) next = at;
  }
  due.sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const out: Output[] = [];
  for (const { key } of due) {
    const slot = state.slots.get(key) as OrderSlot;
    const t = expireHeld(slot, now, rules.holdMs);
    setSlot(state, key, t.slot);
    const left = nextExpiry(t.slot, rules.holdMs);
    if (left !== null && left < next) next = left;
    for (const o of t.outcomes) {
      if (o.status !== "rejected") continue;
      const record = state.held.get(o.eventId);
      dropHeld(state, o.eventId);
      state.changes.counts.rejected++;
      // Without its record (never the case unless stored state was edited) there is nothing to send.
      if (record) out.push({ kind: "dlq", code: o.code, reason: o.reason, record });
    }
  }
  state.nextDue = next;
  return out;
}

/** One record: its outputs in order, the state updated in place. */
export function ingestRecord(
  state: IngestState,
  record: SourceRecord,
  parsed: Parsed,
  rules: IngestRules,
): Output[] {
  if (record.timestamp > state.time) state.time = record.timestamp;
  const now = state.time;
  const c = state.changes.counts;
  // Holds expire on the task's event time before the record that moved it is applied, so the
  // outcome does not depend on batch boundaries.
  const out = expireHolds(state, now, rules);

  if (parsed.kind === "reject") {
    out.push({ kind: "dlq", code: parsed.code, reason: parsed.reason, record });
    c.rejected++;
    return out;
  }
  if (state.seen.has(parsed.eventId)) {
    c.duplicates++;
    return out;
  }
  state.seen.add(parsed.eventId);
  state.changes.events.push({ eventId: parsed.eventId, record });

  const memberId = memberIdFor(parsed.event.customerId, parsed.event.source, rules.memberIds);
  if (parsed.kind === "member") {
    const known = state.members.get(memberId);
    setMember(state, {
      memberId,
      enrolledAt: known?.enrolledAt ?? parsed.event.occurredAt,
      enrolledVia: known?.enrolledVia ?? "registration",
      registered: true,
    });
    out.push({ kind: "member", record: normaliseMember(parsed.event, rules.memberIds) });
    c.accepted++;
    return out;
  }

  const order = parsed.event;
  if (!state.members.has(memberId) && !rules.autoEnrol) {
    out.push({
      kind: "dlq",
      code: "UNKNOWN_CUSTOMER",
      reason: `customer ${order.customerId} (source ${order.source}) is not enrolled`,
      record,
    });
    c.rejected++;
    return out;
  }

  const key = orderKey(order.source, order.orderId);
  const slot = state.slots.get(key) ?? emptySlot(order.source, order.orderId);
  const t = applyOrderEvent(slot, order, now, parsed.eventId);
  setSlot(state, key, t.slot);
  const due = nextExpiry(t.slot, rules.holdMs);
  if (due !== null && due < state.nextDue) state.nextDue = due;
  for (const o of t.outcomes) outcome(state, o, record, rules, out);
  return out;
}

function outcome(
  state: IngestState,
  o: BookOutcome,
  record: SourceRecord,
  rules: IngestRules,
  out: Output[],
): void {
  const c = state.changes.counts;
  switch (o.status) {
    case "accepted": {
      const n = normaliseOrder(o.event, {
        memberId: memberIdFor(o.event.customerId, o.event.source, rules.memberIds),
        fx: rules.fx,
        rateTime: o.rateTime,
        applied: { amountMinor: o.amountMinor, refundedLineIds: o.refundedLineIds },
      });
      if (n.ok) {
        enrolIfUnknown(state, o.event, rules, out);
        out.push({ kind: "purchase", record: n.value });
        c.accepted++;
      } else {
        out.push({ kind: "dlq", code: n.code, reason: n.reason, record });
        c.rejected++;
      }
      dropHeld(state, o.eventId);
      return;
    }
    case "held":
      state.held.set(o.eventId, record);
      state.changes.held.add(o.eventId);
      c.held++;
      return;
    case "duplicate":
      c.duplicates++;
      return;
    case "rejected":
      // A released refund rejected against its order is dead-lettered at the order's position.
      out.push({ kind: "dlq", code: o.code, reason: o.reason, record });
      c.rejected++;
      dropHeld(state, o.eventId);
      return;
  }
}

/** Auto-enrolment (rules.autoEnrol is checked on arrival): once, before the member's first purchase. */
function enrolIfUnknown(state: IngestState, order: OrderEvent, rules: IngestRules, out: Output[]): void {
  const memberId = memberIdFor(order.customerId, order.source, rules.memberIds);
  if (state.members.has(memberId)) return;
  setMember(state, {
    memberId,
    enrolledAt: order.occurredAt,
    enrolledVia: "auto-enrolment",
    registered: false,
  });
  const enrol = autoEnrolment(order, rules.memberIds);
  out.push({ kind: "member", record: { ...enrol, eventId: autoEnrolmentEventId(memberId) } });
}

function setSlot(state: IngestState, key: string, slot: OrderSlot): void {
  state.slots.set(key, slot);
  state.changes.slots.add(key);
  if (slot.held.length > 0) state.holding.add(key);
  else state.holding.delete(key);
}

function setMember(state: IngestState, row: MemberRow): void {
  state.members.set(row.memberId, row);
  state.changes.members.add(row.memberId);
}

function dropHeld(state: IngestState, eventId: string): void {
  if (state.held.delete(eventId)) state.changes.held.add(eventId);
}

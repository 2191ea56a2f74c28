// PostgreSQL access for the engine. Every function takes the batch's client: the caller owns the
// transaction. Bulk reads and writes go through arrays/JSON so a refit touching every member is a
// handful of statements, not one per member.

import type { ChurnAlert as ChurnAlertRecord } from "@loyalty/contracts";
import { type PoolClient, copyUpsert, prepared } from "@loyalty/db";
import type { Pool } from "pg";
import { type MemberRow, type MemberSummary, summarise } from "../engine/member.ts";
import { ChurnStateError } from "../errors.ts";
import type { MemberEvent, MemberState } from "../model/index.ts";

type Db = PoolClient | Pool;

export interface IncomingEvent {
  readonly eventId: string;
  readonly memberId: string;
  readonly time: number;
  readonly event: MemberEvent;
}

/**
 * JSON texts joined by the record separator, which JSON.stringify never leaves unescaped: split
 * by string_to_array and cast one by one, PostgreSQL parses them about twice as fast as one JSON
 * array document (and without the escaping of an array literal of quoted JSON texts).
 */
const RS = "\u001e";
export const jsonTexts = (values: readonly unknown[]): string =>
  values.map((v) => JSON.stringify(v)).join(RS);

/**
 * Records events; a redelivered event (same id) is ignored. Returns the new ones. An event is
 * in member state exactly when its time is at or before the engine's frontier (ADR 8), so a new
 * one at or before the frontier must be applied in this same transaction: the caller passes it
 * to advance(). Flagged `late` when strictly behind it (decisions at earlier instants stand).
 */
export async function insertEvents(
  c: Db,
  events: readonly IncomingEvent[],
  frontier: number | null,
): Promise<IncomingEvent[]> {
  if (events.length === 0) return [];
  const r = await c.query<{ event_id: string }>(
    prepared(`insert into churn_events (event_id, member_id, event_time, event, late)
     select e.id, e.member, e.t, e.ev::jsonb, $5::bigint is not null and e.t < $5::bigint
     from unnest($1::text[], $2::text[], $3::bigint[], string_to_array($4::text, chr(30))) as e(id, member, t, ev)
     on conflict (event_id) do nothing
     returning event_id`),
    [
      events.map((e) => e.eventId),
      events.map((e) => e.memberId),
      events.map((e) => e.time),
      jsonTexts(events.map((e) => e.event)),
      frontier,
    ],
  );
  const inserted = new Set(r.rows.map((x) => x.event_id));
  // An id twice in one batch is inserted once: keep its first occurrence only.
  return events.filter((e) => inserted.delete(e.eventId));
}

export interface EngineRow {
  readonly frontier: number | null;
  readonly nextRefitAt: number | null;
  readonly modelVersion: string | null;
  /** Bumped by every saveEngine(): see SummaryCache. */
  readonly generation: number;
}

export async function loadEngine(c: Db, lock: boolean): Promise<EngineRow> {
  const r = await c.query<{
    frontier: number | null;
    next_refit_at: number | null;
    model_version: string | null;
    generation: number;
  }>(
    `select frontier, next_refit_at, model_version, generation from churn_engine where id = 1${lock ? " for update" : ""}`,
  );
  const row = r.rows[0];
  if (row === undefined) throw new ChurnStateError("churn_engine row missing: migration 400 not applied?");
  return {
    frontier: row.frontier,
    nextRefitAt: row.next_refit_at,
    modelVersion: row.model_version,
    generation: row.generation,
  };
}

/** Saves the engine's position and bumps its generation; returns the new generation. */
export async function saveEngine(c: Db, e: Omit<EngineRow, "generation">): Promise<number> {
  const r = await c.query<{ generation: number }>(
    prepared(`update churn_engine set frontier = $1, next_refit_at = $2, model_version = $3, generation = generation + 1
      where id = 1 returning generation`),
    [e.frontier, e.nextRefitAt, e.modelVersion],
  );
  const g = r.rows[0]?.generation;
  if (g === undefined) throw new ChurnStateError("churn_engine row missing: migration 400 not applied?");
  return g;
}

/** Recorded events after `after` (every one when null): those not yet in member state. */
export async function eventsAfter(c: Db, after: number | null): Promise<IncomingEvent[]> {
  const r = await c.query<{ event_id: string; member_id: string; event_time: number; event: MemberEvent }>(
    "select event_id, member_id, event_time, event from churn_events where $1::bigint is null or event_time > $1::bigint",
    [after],
  );
  return r.rows.map((e) => ({
    eventId: e.event_id,
    memberId: e.member_id,
    time: e.event_time,
    event: e.event,
  }));
}

/** Moves the engine row's generation without moving the engine (a step that only recorded events). */
export async function bumpGeneration(c: Db): Promise<number> {
  const r = await c.query<{ generation: number }>(
    prepared("update churn_engine set generation = generation + 1 where id = 1 returning generation"),
  );
  const g = r.rows[0]?.generation;
  if (g === undefined) throw new ChurnStateError("churn_engine row missing: migration 400 not applied?");
  return g;
}

interface MemberDbRow {
  member_id: string;
  state: MemberState;
  last_event_time: number | null;
  armed: boolean;
  alert_last_purchase_at: number | null;
  last_alert_at: number | null;
  due_at: number | null;
}

/** Every member with its due time: what the engine's task holds in memory (MemberMemory). */
export async function loadAllMembers(c: Db): Promise<Map<string, MemberRow>> {
  const r = await c.query<MemberDbRow>(
    prepared(`select m.member_id, m.state, m.last_event_time, m.armed, m.alert_last_purchase_at, m.last_alert_at,
       d.due_at
     from churn_members m left join churn_due d using (member_id)`),
  );
  const out = new Map<string, MemberRow>();
  for (const m of r.rows) {
    out.set(m.member_id, {
      memberId: m.member_id,
      state: m.state,
      lastEventTime: m.last_event_time,
      alert: { armed: m.armed, lastAlertAt: m.last_alert_at, lastPurchaseAt: m.alert_last_purchase_at },
      dueAt: m.due_at,
    });
  }
  return out;
}

/** A member's summary as stored by writeMembers() and read back by allSummaries(); null without purchase days. */
export function summaryOf(m: MemberRow): SummaryRow | null {
  const s = summarise(m.state);
  if (s === null) return null;
  return {
    memberId: m.memberId,
    x: s.x,
    firstDay: s.firstDay,
    lastDay: s.lastDay,
    purchaseDays: s.purchaseDays,
    totalMinor: s.totalMinor,
    repeatMinor: s.repeatMinor,
    // Stored through JSON: a non-finite number comes back as null.
    lastPurchaseAt: Number.isFinite(s.lastPurchaseAt) ? s.lastPurchaseAt : (null as unknown as number),
    armed: m.alert.armed,
    alertLastPurchaseAt: m.alert.lastPurchaseAt,
    lastEventTime: m.lastEventTime,
  };
}

/** A bigint column's value; a non-finite number is stored as null (as it was through JSON). */
const finiteOrNull = (v: number | null): number | null => (v !== null && Number.isFinite(v) ? v : null);

/**
 * Writes members' rows (not their due times: writeDueTimes), staged with COPY and upserted from
 * there in one statement (packages/db/src/copy.ts); in the caller's transaction.
 */
export async function writeMembers(c: PoolClient, rows: readonly MemberRow[]): Promise<void> {
  await copyUpsert(
    c,
    "churn_members",
    [
      "member_id",
      "state",
      "x",
      "first_day",
      "last_day",
      "purchase_days",
      "total_minor",
      "repeat_minor",
      "last_purchase_at",
      "last_event_time",
      "armed",
      "alert_last_purchase_at",
      "last_alert_at",
    ],
    rows.map((m) => {
      const s = summaryOf(m);
      return [
        m.memberId,
        m.state,
        s?.x ?? null,
        s?.firstDay ?? null,
        s?.lastDay ?? null,
        s?.purchaseDays ?? 0,
        s?.totalMinor ?? 0,
        s?.repeatMinor ?? 0,
        s?.lastPurchaseAt ?? null,
        m.lastEventTime,
        m.alert.armed,
        finiteOrNull(m.alert.lastPurchaseAt),
        finiteOrNull(m.alert.lastAlertAt),
      ];
    }),
    {
      key: ["member_id"],
      set: `state = excluded.state, x = excluded.x, first_day = excluded.first_day,
            last_day = excluded.last_day, purchase_days = excluded.purchase_days,
            total_minor = excluded.total_minor, repeat_minor = excluded.repeat_minor,
            last_purchase_at = excluded.last_purchase_at, last_event_time = excluded.last_event_time,
            armed = excluded.armed, alert_last_purchase_at = excluded.alert_last_purchase_at,
            last_alert_at = excluded.last_alert_at`,
    },
  );
}

export interface SummaryRow extends MemberSummary {
  readonly memberId: string;
  readonly armed: boolean;
  readonly alertLastPurchaseAt: number | null;
  readonly lastEventTime: number | null;
}

/** Every member with at least one purchase day, from the summary columns, in member id order (bytewise). */
export async function allSummaries(c: Db): Promise<SummaryRow[]> {
  const r = await c.query<{
    member_id: string;
    x: number;
    first_day: number;
    last_day: number;
    purchase_days: number;
    total_minor: number;
    repeat_minor: number;
    last_purchase_at: number;
    armed: boolean;
    alert_last_purchase_at: number | null;
    last_event_time: number | null;
  }>(
    prepared(`select member_id, x, first_day, last_day, purchase_days, total_minor, repeat_minor, last_purchase_at,
       armed, alert_last_purchase_at, last_event_time
     from churn_members where x is not null order by member_id collate "C"`),
  );
  return r.rows.map((m) => ({
    memberId: m.member_id,
    x: m.x,
    firstDay: m.first_day,
    lastDay: m.last_day,
    purchaseDays: m.purchase_days,
    totalMinor: m.total_minor,
    repeatMinor: m.repeat_minor,
    lastPurchaseAt: m.last_purchase_at,
    armed: m.armed,
    alertLastPurchaseAt: m.alert_last_purchase_at,
    lastEventTime: m.last_event_time,
  }));
}

/** Members' due times in one statement; a null one removes the member's row. */
export async function writeDueTimes(c: Db, dues: ReadonlyMap<string, number | null>): Promise<void> {
  if (dues.size === 0) return;
  await c.query(
    prepared(`with d as (select * from unnest($1::text[], $2::bigint[]) as d(member_id, due_at)),
     cleared as (delete from churn_due c using d where c.member_id = d.member_id and d.due_at is null)
     insert into churn_due (member_id, due_at) select member_id, due_at from d where due_at is not null
     on conflict (member_id) do update set due_at = excluded.due_at
       where churn_due.due_at is distinct from excluded.due_at`),
    [[...dues.keys()], [...dues.values()]],
  );
}

/** Alerts raised by a step; they go out with the step's output (the runtime's pending output). */
export async function insertAlerts(c: Db, alerts: readonly ChurnAlertRecord[]): Promise<void> {
  if (alerts.length === 0) return;
  await c.query(
    prepared(`insert into churn_alerts (event_id, member_id, event_time, model_version, record)
     select a.id, a.member, a.t, a.mv, a.rec
     from unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[]) as a(id, member, t, mv, rec)
     on conflict (event_id) do nothing`),
    [
      alerts.map((a) => a.eventId),
      alerts.map((a) => a.memberId),
      alerts.map((a) => a.eventTime),
      alerts.map((a) => a.modelVersion),
      alerts.map((a) => JSON.stringify(a)),
    ],
  );
}

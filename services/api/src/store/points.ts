// The API's read model of loyalty.points.v1 (migration 508): balances, lots with their expiry and
// the history. Written only by the points consumer (src/points-read-model.ts), one transaction per
// batch with one set-based statement per table; read by the summary, the history, the console's
// lots and points per day, and memberState. The rules engine's ledger tables are never named.
import { type PoolClient, prepared } from "@loyalty/db";
import type { Db } from "./db.ts";

/** The ledger's entry kinds, as the history has always named them. */
export type EntryKind = "earn" | "reverse" | "redeem" | "expire" | "adjust";

export interface LotShareRow {
  lotId: string;
  points: number;
  /** Set when the entry opened the lot. */
  expiresAt: number | null;
}

export interface PointsEntryRow {
  entryId: string;
  memberId: string;
  kind: EntryKind;
  points: number;
  balanceAfter: number;
  ruleId: string | null;
  ruleVersion: number | null;
  ruleSetId: string | null;
  ruleSetVersion: number | null;
  reason: string | null;
  sourceEventId: string;
  orderId: string | null;
  eventTime: number;
  lots: LotShareRow[];
  /** Whether `lots` is what the record said (false: a record from before the field, lots unknown). */
  lotsKnown: boolean;
  partition: number;
  offset: string;
}

export interface LotChange {
  lotId: string;
  memberId: string;
  /** The lot's points when an entry of the batch opened it, else 0. */
  points: number;
  /** The change of its remaining points. */
  delta: number;
  earnedAt: number | null;
  expiresAt: number | null;
}

export interface BalanceChange {
  memberId: string;
  balance: number;
  debtDelta: number;
  lastEntryId: string;
  eventTime: number;
  partition: number;
  offset: string;
}

/**
 * Pure: what entries read for the first time (in topic order) do to lots and balances. A member's
 * balance is its last entry's balanceAfter (its records are in ledger order); its debt moves by
 * what the entry moved in lots minus its points (a clawback beyond the lots adds, a positive
 * adjustment that pays debt off subtracts). An entry whose lots are unknown moves no debt.
 */
export function planPoints(fresh: readonly PointsEntryRow[]): {
  lots: LotChange[];
  balances: BalanceChange[];
} {
  const lots = new Map<string, LotChange>();
  const balances = new Map<string, BalanceChange>();
  for (const e of fresh) {
    let moved = 0;
    for (const s of e.lots) {
      moved += s.points;
      const l = lots.get(s.lotId);
      const opens = s.expiresAt !== null;
      if (l) {
        l.delta += s.points;
        if (opens) Object.assign(l, { points: s.points, earnedAt: e.eventTime, expiresAt: s.expiresAt });
      } else
        lots.set(s.lotId, {
          lotId: s.lotId,
          memberId: e.memberId,
          points: opens ? s.points : 0,
          delta: s.points,
          earnedAt: opens ? e.eventTime : null,
          expiresAt: s.expiresAt,
        });
    }
    const b = balances.get(e.memberId);
    const debtDelta = (b?.debtDelta ?? 0) + (e.lotsKnown ? moved - e.points : 0);
    balances.set(e.memberId, {
      memberId: e.memberId,
      balance: e.balanceAfter,
      debtDelta,
      lastEntryId: e.entryId,
      eventTime: e.eventTime,
      partition: e.partition,
      offset: e.offset,
    });
  }
  return { lots: [...lots.values()], balances: [...balances.values()] };
}

/**
 * Applies one batch of entries in `c`'s transaction: inserts them (an entry id stored already,
 * a record read again, is ignored), then moves lots and balances by the entries inserted now.
 * Returns the ids inserted.
 */
export async function storePoints(c: PoolClient, rows: readonly PointsEntryRow[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: PointsEntryRow) => T) => rows.map(f);
  // Prepared statements: planned once per connection (planning these unnest statements cost about
  // as much as running them on a small batch).
  const ins = await c.query<{ entry_id: string }>({
    ...prepared(`insert into api_points_entries (entry_id, member_id, kind, points, balance_after, rule_id, rule_version,
                                     rule_set_id, rule_set_version, reason, source_event_id, order_id,
                                     event_time, topic_partition, topic_offset)
     select e, m, k, p, b, ri, rv, rs, rsv, re, se, o, t, tp, tof
       from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::int[],
                   $8::text[], $9::int[], $10::text[], $11::text[], $12::text[], $13::timestamptz[],
                   $14::int[], $15::bigint[])
            with ordinality as x(e, m, k, p, b, ri, rv, rs, rsv, re, se, o, t, tp, tof, n)
      order by n
     on conflict (entry_id) do nothing
     returning entry_id`),
    values: [
      col((r) => r.entryId),
      col((r) => r.memberId),
      col((r) => r.kind),
      col((r) => r.points),
      col((r) => r.balanceAfter),
      col((r) => r.ruleId),
      col((r) => r.ruleVersion),
      col((r) => r.ruleSetId),
      col((r) => r.ruleSetVersion),
      col((r) => r.reason),
      col((r) => r.sourceEventId),
      col((r) => r.orderId),
      col((r) => new Date(r.eventTime)),
      col((r) => r.partition),
      col((r) => r.offset),
    ],
  });
  const inserted = new Set(ins.rows.map((r) => r.entry_id));
  const { lots, balances } = planPoints(rows.filter((r) => inserted.has(r.entryId)));
  if (lots.length > 0)
    await c.query({
      ...prepared(`insert into api_points_lots (lot_id, member_id, points, remaining, earned_at, expires_at)
       select * from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
       on conflict (lot_id) do update set
         remaining = api_points_lots.remaining + excluded.remaining,
         points = case when api_points_lots.expires_at is null then excluded.points else api_points_lots.points end,
         earned_at = coalesce(api_points_lots.earned_at, excluded.earned_at),
         expires_at = coalesce(api_points_lots.expires_at, excluded.expires_at)`),
      values: [
        lots.map((l) => l.lotId),
        lots.map((l) => l.memberId),
        lots.map((l) => l.points),
        lots.map((l) => l.delta),
        lots.map((l) => (l.earnedAt === null ? null : new Date(l.earnedAt))),
        lots.map((l) => (l.expiresAt === null ? null : new Date(l.expiresAt))),
      ],
    });
  if (balances.length > 0)
    await c.query({
      ...prepared(`insert into api_points_balances (member_id, balance, debt, last_entry_id, event_time, topic_partition, topic_offset)
       select m, b, d, e, t, p, o
         from unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::int[], $7::bigint[])
              as x(m, b, d, e, t, p, o)
       on conflict (member_id) do update set
         balance = excluded.balance,
         debt = greatest(api_points_balances.debt + excluded.debt, 0),
         last_entry_id = excluded.last_entry_id, event_time = excluded.event_time,
         topic_partition = excluded.topic_partition, topic_offset = excluded.topic_offset`),
      values: [
        balances.map((b) => b.memberId),
        balances.map((b) => b.balance),
        balances.map((b) => b.debtDelta),
        balances.map((b) => b.lastEntryId),
        balances.map((b) => new Date(b.eventTime)),
        balances.map((b) => b.partition),
        balances.map((b) => b.offset),
      ],
    });
  return [...inserted];
}

/** Whether the read model has applied the entry (read-your-writes after a command's reply). */
export async function entryApplied(db: Db, entryId: string): Promise<boolean> {
  const r = await db.query({
    ...prepared("select 1 from api_points_entries where entry_id = $1"),
    values: [entryId],
  });
  return (r.rowCount ?? 0) > 0;
}

/** The latest event time the read model holds (the API's "now" floor at start), null when empty. */
export async function latestEventTime(db: Db): Promise<number | null> {
  const r = await db.query<{ t: Date | null }>("select max(event_time) as t from api_points_entries");
  const t = r.rows[0]?.t ?? null;
  return t === null ? null : t.getTime();
}

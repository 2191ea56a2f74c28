// The API's read-model tables of loyalty.tiers.v1 and loyalty.churn-alerts.v1 (migration 507):
// written only by src/read-models.ts, read by the member summary and the dashboard.
import type { Db } from "./db.ts";

export interface TierChangeRow {
  eventId: string;
  memberId: string;
  fromTier: string;
  toTier: string;
  direction: string;
  reason: string;
  effectiveAt: number;
  partition: number;
  offset: string;
}

export interface ChurnAlertRow {
  eventId: string;
  memberId: string;
  eventTime: number;
  pAlive: number;
  expectedValueMinor: number;
  currency: string;
  segment: string;
  actionLevel: string;
  modelVersion: string;
  partition: number;
  offset: string;
}

/** One multi-row insert; an event id already stored (a record read again) is ignored. */
export async function storeTierChanges(db: Db, rows: readonly TierChangeRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await db.query(
    `insert into api_tier_changes (event_id, member_id, from_tier, to_tier, direction, reason, effective_at,
                                   topic_partition, topic_offset)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                          $7::timestamptz[], $8::int[], $9::bigint[])
     on conflict (event_id) do nothing`,
    [
      rows.map((x) => x.eventId),
      rows.map((x) => x.memberId),
      rows.map((x) => x.fromTier),
      rows.map((x) => x.toTier),
      rows.map((x) => x.direction),
      rows.map((x) => x.reason),
      rows.map((x) => new Date(x.effectiveAt)),
      rows.map((x) => x.partition),
      rows.map((x) => x.offset),
    ],
  );
  return r.rowCount ?? 0;
}

/** One multi-row insert; an event id already stored (a record read again) is ignored. */
export async function storeChurnAlerts(db: Db, rows: readonly ChurnAlertRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await db.query(
    `insert into api_churn_alerts (event_id, member_id, event_time, p_alive, expected_value_minor, currency,
                                   segment, action_level, model_version, topic_partition, topic_offset)
     select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::bigint[], $6::text[],
                          $7::text[], $8::text[], $9::text[], $10::int[], $11::bigint[])
     on conflict (event_id) do nothing`,
    [
      rows.map((x) => x.eventId),
      rows.map((x) => x.memberId),
      rows.map((x) => new Date(x.eventTime)),
      rows.map((x) => x.pAlive),
      rows.map((x) => x.expectedValueMinor),
      rows.map((x) => x.currency),
      rows.map((x) => x.segment),
      rows.map((x) => x.actionLevel),
      rows.map((x) => x.modelVersion),
      rows.map((x) => x.partition),
      rows.map((x) => x.offset),
    ],
  );
  return r.rowCount ?? 0;
}

/** The member's tier: the to_tier of its latest change, null when none was read. */
export async function memberTier(db: Db, memberId: string): Promise<string | null> {
  const r = await db.query<{ to_tier: string }>(
    `select to_tier from api_tier_changes where member_id = $1
      order by effective_at desc, topic_offset desc limit 1`,
    [memberId],
  );
  return r.rows[0]?.to_tier ?? null;
}

export interface LatestAlert {
  at: string;
  pAlive: number;
  segment: string;
  actionLevel: string;
  modelVersion: string;
}

/** The member's latest churn alert (event time), null when none was read. */
export async function latestAlert(db: Db, memberId: string): Promise<LatestAlert | null> {
  const r = await db.query<{
    event_time: Date;
    p_alive: number;
    segment: string;
    action_level: string;
    model_version: string;
  }>(
    `select event_time, p_alive, segment, action_level, model_version from api_churn_alerts
      where member_id = $1 order by event_time desc, topic_offset desc limit 1`,
    [memberId],
  );
  const a = r.rows[0];
  return a
    ? {
        at: a.event_time.toISOString(),
        pAlive: a.p_alive,
        segment: a.segment,
        actionLevel: a.action_level,
        modelVersion: a.model_version,
      }
    : null;
}

/** Whether any read model has a row for the member (the summary's "known", beside the ledger). */
export async function knownToReadModels(db: Db, memberId: string): Promise<boolean> {
  const r = await db.query<{ known: boolean }>(
    `select exists (select 1 from api_tier_changes where member_id = $1)
         or exists (select 1 from api_churn_alerts where member_id = $1) as known`,
    [memberId],
  );
  return r.rows[0]?.known ?? false;
}

const WEEK_MS = 7 * 86_400_000;

/** Monday 00:00 UTC of the week holding `ms`. */
export function weekStart(ms: number): number {
  const day = Math.floor(ms / 86_400_000);
  // 1970-01-01 was a Thursday: (day + 3) mod 7 is days since Monday.
  return (day - ((((day + 3) % 7) + 7) % 7)) * 86_400_000;
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface TierDelta {
  /** Week start, epoch ms. */
  week: number;
  tier: string;
  /** Members that entered (+) or left (-) the tier that week. */
  n: number;
}

export interface TiersWeek {
  week: string;
  tiers: { tier: string; members: number }[];
}

/**
 * Pure: per-week deltas → members per tier at the end of each of the `weeks` weeks up to the
 * last delta's week (weeks without changes included). Only members with at least one tier change
 * are counted: a member who never changed is in the programme's base tier, which no record names.
 */
export function tiersByWeekFrom(
  deltas: readonly TierDelta[],
  weeks: number,
): { to: string | null; tiers: string[]; weeks: TiersWeek[] } {
  if (deltas.length === 0) return { to: null, tiers: [], weeks: [] };
  const sorted = [...deltas].sort((a, b) => a.week - b.week);
  const first = sorted[0]?.week ?? 0;
  const last = sorted.at(-1)?.week ?? 0;
  const tiers = [...new Set(sorted.map((d) => d.tier))].sort();
  const count = new Map<string, number>(tiers.map((t) => [t, 0]));
  const from = Math.max(first, last - (weeks - 1) * WEEK_MS);
  const out: TiersWeek[] = [];
  let i = 0;
  for (let w = first; w <= last; w += WEEK_MS) {
    for (; i < sorted.length && (sorted[i]?.week ?? Number.POSITIVE_INFINITY) <= w; i++) {
      const d = sorted[i];
      if (d) count.set(d.tier, (count.get(d.tier) ?? 0) + d.n);
    }
    if (w >= from)
      out.push({ week: isoDay(w), tiers: tiers.map((t) => ({ tier: t, members: count.get(t) ?? 0 })) });
  }
  return { to: isoDay(last), tiers, weeks: out };
}

/** Members per tier at the end of each week, from api_tier_changes (see tiersByWeekFrom). */
export async function tiersByWeek(db: Db, weeks: number) {
  // Each change adds its member to to_tier and removes it from the tier of its previous change.
  const r = await db.query<{ week: Date; tier: string; n: string }>(
    `with c as (
       select date_trunc('week', effective_at at time zone 'UTC') as w, to_tier,
              lag(to_tier) over (partition by member_id order by effective_at, topic_offset) as prev
         from api_tier_changes),
     d as (select w, to_tier as tier, 1 as n from c
           union all select w, prev, -1 from c where prev is not null)
     select w at time zone 'UTC' as week, tier, sum(n) as n from d group by w, tier`,
  );
  return tiersByWeekFrom(
    r.rows.map((x) => ({ week: x.week.getTime(), tier: x.tier, n: Number(x.n) })),
    weeks,
  );
}

export interface AlertsWeek {
  week: string;
  alerts: number;
  members: number;
  highValueAtRisk: number;
  atRisk: number;
  lowValueAtRisk: number;
}

/** Churn alerts per week (Monday, UTC, event time) for the `weeks` weeks up to the newest alert. */
export async function alertsByWeek(
  db: Db,
  weeks: number,
): Promise<{ to: string | null; weeks: AlertsWeek[] }> {
  const r = await db.query<{
    week: string;
    alerts: string;
    members: string;
    high: string;
    risk: string;
    low: string;
    last: Date | null;
  }>(
    `with last as (select max(event_time) as t from api_churn_alerts),
          span as (select date_trunc('week', t at time zone 'UTC') as w1 from last where t is not null),
          weeks as (select generate_series(w1 - make_interval(weeks => $1::int - 1), w1, interval '1 week') as w from span),
          agg as (
            select date_trunc('week', a.event_time at time zone 'UTC') as w, count(*) as alerts,
                   count(distinct a.member_id) as members,
                   count(*) filter (where a.action_level = 'high-value-at-risk') as high,
                   count(*) filter (where a.action_level = 'at-risk') as risk,
                   count(*) filter (where a.action_level = 'low-value-at-risk') as low
              from api_churn_alerts a, span
             where a.event_time >= (span.w1 - make_interval(weeks => $1::int - 1)) at time zone 'UTC'
             group by 1)
     select to_char(weeks.w, 'YYYY-MM-DD') as week, coalesce(agg.alerts, 0) as alerts,
            coalesce(agg.members, 0) as members, coalesce(agg.high, 0) as high,
            coalesce(agg.risk, 0) as risk, coalesce(agg.low, 0) as low, (select t from last) as last
       from weeks left join agg on agg.w = weeks.w
      order by weeks.w`,
    [weeks],
  );
  const last = r.rows.at(-1)?.last ?? null;
  return {
    to: last ? last.toISOString() : null,
    weeks: r.rows.map((x) => ({
      week: x.week,
      alerts: Number(x.alerts),
      members: Number(x.members),
      highValueAtRisk: Number(x.high),
      atRisk: Number(x.risk),
      lowValueAtRisk: Number(x.low),
    })),
  };
}

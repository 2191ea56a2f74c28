// The dashboard's read-model tables (migration 510): written only by src/dashboard-read-model.ts
// (applyDashboardBatch), read by the dashboard and churn routes (src/http/dashboard.ts). The
// figures themselves are computed by the pure functions of src/dashboard-figures.ts.
import type { PoolClient } from "@loyalty/db";
import type { Db } from "./db.ts";

/** One record's effect on the tables, decided by the read model's pure part. */
export type DashboardFact =
  | { type: "points"; day: string; kind: string; ruleId: string; points: number }
  | { type: "purchase"; memberId: string; at: number }
  | {
      type: "fit";
      modelVersion: string;
      params: { r: number; alpha: number; a: number; b: number } | null;
      at: number;
    }
  | {
      type: "tier";
      eventId: string;
      memberId: string;
      toTier: string;
      direction: string;
      metric: string;
      metricValue: number;
      threshold: number;
      at: number;
      offset: string;
    };

export interface PartitionBatch {
  topic: string;
  partition: number;
  /** Each record's offset and what it does (none: a record without effect, still consumed). */
  records: { offset: string; facts: DashboardFact[] }[];
}

/**
 * Applies one batch in the caller's transaction: per partition, records below the stored
 * next_offset were applied before (a batch delivered again) and are skipped; the rest are summed
 * set-based and next_offset moves past the batch. Returns how many records were applied.
 */
export async function applyDashboardBatch(c: PoolClient, parts: readonly PartitionBatch[]): Promise<number> {
  const facts: DashboardFact[] = [];
  let applied = 0;
  const live = parts.filter((p) => p.records.length > 0);
  if (live.length === 0) return 0;
  const topics = live.map((p) => p.topic);
  const partitions = live.map((p) => p.partition);
  // Three statements per batch, whatever its partitions. The rows first, then their locks, both
  // in (topic, partition) order: two instances applying the same partition during a rebalance
  // queue on it (an insert waits for the other's uncommitted one), so neither applies blindly,
  // and the one order means no deadlock between two batches.
  await c.query(
    `insert into api_dashboard_offsets (topic, topic_partition, next_offset)
     select t, p, 0 from unnest($1::text[], $2::int[]) as u(t, p) order by t, p
     on conflict (topic, topic_partition) do nothing`,
    [topics, partitions],
  );
  const stored = await c.query<{ topic: string; topic_partition: number; next_offset: string }>(
    `select topic, topic_partition, next_offset from api_dashboard_offsets
      where (topic, topic_partition) in (select * from unnest($1::text[], $2::int[]))
      order by topic, topic_partition for update`,
    [topics, partitions],
  );
  const nextOf = new Map(
    stored.rows.map((r) => [`${r.topic}\u0000${r.topic_partition}`, BigInt(r.next_offset)]),
  );
  const moved: { topic: string; partition: number; next: string }[] = [];
  for (const p of live) {
    const next = nextOf.get(`${p.topic}\u0000${p.partition}`) ?? 0n;
    let last = next - 1n;
    for (const rec of p.records) {
      const o = BigInt(rec.offset);
      if (o < next) continue;
      applied++;
      facts.push(...rec.facts);
      if (o > last) last = o;
    }
    if (last + 1n > next) moved.push({ topic: p.topic, partition: p.partition, next: String(last + 1n) });
  }
  if (moved.length > 0)
    await c.query(
      `update api_dashboard_offsets o set next_offset = u.n
         from unnest($1::text[], $2::int[], $3::bigint[]) as u(t, p, n)
        where o.topic = u.t and o.topic_partition = u.p`,
      [moved.map((m) => m.topic), moved.map((m) => m.partition), moved.map((m) => m.next)],
    );
  await storeFacts(c, facts);
  return applied;
}

async function storeFacts(c: PoolClient, facts: readonly DashboardFact[]): Promise<void> {
  // Points: summed per (day, kind, rule) in memory, one upsert adding to the stored sums.
  const sums = new Map<
    string,
    { day: string; kind: string; ruleId: string; points: number; entries: number }
  >();
  const purchases = new Map<string, number>();
  const fits = new Map<
    string,
    {
      params: { r: number; alpha: number; a: number; b: number } | null;
      first: number;
      last: number;
      n: number;
    }
  >();
  const tiers: Extract<DashboardFact, { type: "tier" }>[] = [];
  for (const f of facts) {
    if (f.type === "points") {
      const k = `${f.day}\u0000${f.kind}\u0000${f.ruleId}`;
      const s = sums.get(k) ?? { day: f.day, kind: f.kind, ruleId: f.ruleId, points: 0, entries: 0 };
      s.points += f.points;
      s.entries += 1;
      sums.set(k, s);
    } else if (f.type === "purchase") {
      purchases.set(f.memberId, Math.max(purchases.get(f.memberId) ?? f.at, f.at));
    } else if (f.type === "fit") {
      const x = fits.get(f.modelVersion);
      if (x === undefined) fits.set(f.modelVersion, { params: f.params, first: f.at, last: f.at, n: 1 });
      else {
        x.params = x.params ?? f.params;
        x.first = Math.min(x.first, f.at);
        x.last = Math.max(x.last, f.at);
        x.n += 1;
      }
    } else tiers.push(f);
  }
  if (sums.size > 0) {
    const rows = [...sums.values()];
    await c.query(
      `insert into api_dashboard_points (day, kind, rule_id, points, entries)
       select * from unnest($1::date[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
       on conflict (day, kind, rule_id) do update
         set points = api_dashboard_points.points + excluded.points,
             entries = api_dashboard_points.entries + excluded.entries`,
      [
        rows.map((x) => x.day),
        rows.map((x) => x.kind),
        rows.map((x) => x.ruleId),
        rows.map((x) => x.points),
        rows.map((x) => x.entries),
      ],
    );
  }
  if (purchases.size > 0) {
    const rows = [...purchases.entries()];
    await c.query(
      `insert into api_dashboard_purchases (member_id, last_earned_at)
       select * from unnest($1::text[], $2::timestamptz[])
       on conflict (member_id) do update
         set last_earned_at = greatest(api_dashboard_purchases.last_earned_at, excluded.last_earned_at)`,
      [rows.map(([m]) => m), rows.map(([, t]) => new Date(t))],
    );
  }
  if (fits.size > 0) {
    const rows = [...fits.entries()];
    await c.query(
      `insert into api_dashboard_fits (model_version, r, alpha, a, b, first_alert_at, last_alert_at, alerts)
       select * from unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[],
                            $6::timestamptz[], $7::timestamptz[], $8::bigint[])
       on conflict (model_version) do update
         set r = coalesce(api_dashboard_fits.r, excluded.r),
             alpha = coalesce(api_dashboard_fits.alpha, excluded.alpha),
             a = coalesce(api_dashboard_fits.a, excluded.a),
             b = coalesce(api_dashboard_fits.b, excluded.b),
             first_alert_at = least(api_dashboard_fits.first_alert_at, excluded.first_alert_at),
             last_alert_at = greatest(api_dashboard_fits.last_alert_at, excluded.last_alert_at),
             alerts = api_dashboard_fits.alerts + excluded.alerts`,
      [
        rows.map(([v]) => v),
        rows.map(([, x]) => x.params?.r ?? null),
        rows.map(([, x]) => x.params?.alpha ?? null),
        rows.map(([, x]) => x.params?.a ?? null),
        rows.map(([, x]) => x.params?.b ?? null),
        rows.map(([, x]) => new Date(x.first)),
        rows.map(([, x]) => new Date(x.last)),
        rows.map(([, x]) => x.n),
      ],
    );
  }
  if (tiers.length > 0)
    await c.query(
      `insert into api_dashboard_tier_metrics (event_id, member_id, to_tier, direction, metric, metric_value,
                                               threshold, effective_at, topic_offset)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[],
                            $7::float8[], $8::timestamptz[], $9::bigint[])
       on conflict (event_id) do nothing`,
      [
        tiers.map((x) => x.eventId),
        tiers.map((x) => x.memberId),
        tiers.map((x) => x.toTier),
        tiers.map((x) => x.direction),
        tiers.map((x) => x.metric),
        tiers.map((x) => x.metricValue),
        tiers.map((x) => x.threshold),
        tiers.map((x) => new Date(x.at)),
        tiers.map((x) => x.offset),
      ],
    );
}

export interface PointsDayRow {
  day: string;
  kind: string;
  ruleId: string;
  points: number;
  entries: number;
}

/**
 * Sums per (day, kind), oldest first, with rule id '' (the flow and liability need no rule); or,
 * given rule ids, per (day, kind, rule) of those rules (budget burn). Rows are per day, not per
 * entry: a year is a few thousand.
 */
export async function pointsDays(db: Db, ruleIds?: readonly string[]): Promise<PointsDayRow[]> {
  const r =
    ruleIds === undefined
      ? await db.query<{ day: string; kind: string; rule_id: string; points: string; entries: string }>(
          `select to_char(day, 'YYYY-MM-DD') as day, kind, '' as rule_id, sum(points) as points,
                  sum(entries) as entries
             from api_dashboard_points group by day, kind order by day`,
        )
      : await db.query<{ day: string; kind: string; rule_id: string; points: string; entries: string }>(
          `select to_char(day, 'YYYY-MM-DD') as day, kind, rule_id, points, entries from api_dashboard_points
            where rule_id = any($1::text[]) order by day`,
          [[...ruleIds]],
        );
  return r.rows.map((x) => ({
    day: x.day,
    kind: x.kind,
    ruleId: x.rule_id,
    points: Number(x.points),
    entries: Number(x.entries),
  }));
}

/** The newest version of every rule set in the API's read model of loyalty.rules.v1. */
export async function newestRuleSets(
  db: Db,
): Promise<{ ruleSetId: string; version: number; ruleSet: unknown }[]> {
  const r = await db.query<{ rule_set_id: string; version: number; rule_set: unknown }>(
    `select distinct on (rule_set_id) rule_set_id, version, rule_set from api_rule_sets
      order by rule_set_id, version desc`,
  );
  return r.rows.map((x) => ({ ruleSetId: x.rule_set_id, version: x.version, ruleSet: x.rule_set }));
}

export interface WinbackRow {
  week: string;
  alerted: number;
  converted: number;
}

/**
 * Per week (Monday, UTC) of alerts: members alerted that week, and those of them whose newest
 * points-earning purchase came after their first alert of that week.
 */
export async function winbackWeeks(db: Db): Promise<WinbackRow[]> {
  const r = await db.query<{ week: string; alerted: string; converted: string }>(
    `with a as (
       select member_id, date_trunc('week', event_time at time zone 'UTC') as w, min(event_time) as t
         from api_churn_alerts group by 1, 2)
     select to_char(a.w, 'YYYY-MM-DD') as week, count(*) as alerted,
            count(*) filter (where p.last_earned_at > a.t) as converted
       from a left join api_dashboard_purchases p on p.member_id = a.member_id
      group by a.w order by a.w`,
  );
  return r.rows.map((x) => ({ week: x.week, alerted: Number(x.alerted), converted: Number(x.converted) }));
}

/** Members per segment and per action level of their latest alert, and the alerts' total. */
export async function latestAlertCounts(db: Db): Promise<{
  members: number;
  segments: { segment: string; members: number }[];
  actionLevels: { actionLevel: string; members: number }[];
}> {
  const r = await db.query<{ segment: string; action_level: string; n: string }>(
    `with latest as (
       select distinct on (member_id) segment, action_level from api_churn_alerts
        order by member_id, event_time desc, topic_offset desc)
     select segment, action_level, count(*) as n from latest group by 1, 2`,
  );
  const seg = new Map<string, number>();
  const lvl = new Map<string, number>();
  let members = 0;
  for (const x of r.rows) {
    const n = Number(x.n);
    members += n;
    seg.set(x.segment, (seg.get(x.segment) ?? 0) + n);
    lvl.set(x.action_level, (lvl.get(x.action_level) ?? 0) + n);
  }
  const sorted = <K extends string>(m: Map<string, number>, k: K) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([name, n]) => ({ [k]: name, members: n }) as { [P in K]: string } & { members: number });
  return { members, segments: sorted(seg, "segment"), actionLevels: sorted(lvl, "actionLevel") };
}

export interface FitRow {
  modelVersion: string;
  params: { r: number; alpha: number; a: number; b: number } | null;
  firstAlertAt: number;
  lastAlertAt: number;
  alerts: number;
}

/** The fits named by alerts, newest first by their newest alert. */
export async function fits(db: Db, limit: number): Promise<FitRow[]> {
  const r = await db.query<{
    model_version: string;
    r: number | null;
    alpha: number | null;
    a: number | null;
    b: number | null;
    first_alert_at: Date;
    last_alert_at: Date;
    alerts: string;
  }>(
    `select model_version, r, alpha, a, b, first_alert_at, last_alert_at, alerts from api_dashboard_fits
      order by last_alert_at desc, model_version desc limit $1`,
    [limit],
  );
  return r.rows.map((x) => ({
    modelVersion: x.model_version,
    params:
      x.r === null || x.alpha === null || x.a === null || x.b === null
        ? null
        : { r: x.r, alpha: x.alpha, a: x.a, b: x.b },
    firstAlertAt: x.first_alert_at.getTime(),
    lastAlertAt: x.last_alert_at.getTime(),
    alerts: Number(x.alerts),
  }));
}

export interface TierMetricRow {
  toTier: string;
  direction: string;
  metric: string;
  metricValue: number;
  threshold: number;
  at: number;
}

/** The member's latest tier change with its metric (null: none read). */
export async function latestTierMetric(db: Db, memberId: string): Promise<TierMetricRow | null> {
  const r = await db.query<{
    to_tier: string;
    direction: string;
    metric: string;
    metric_value: number;
    threshold: number;
    effective_at: Date;
  }>(
    `select to_tier, direction, metric, metric_value, threshold, effective_at from api_dashboard_tier_metrics
      where member_id = $1 order by effective_at desc, topic_offset desc limit 1`,
    [memberId],
  );
  const x = r.rows[0];
  return x
    ? {
        toTier: x.to_tier,
        direction: x.direction,
        metric: x.metric,
        metricValue: x.metric_value,
        threshold: x.threshold,
        at: x.effective_at.getTime(),
      }
    : null;
}

/** Per tier and metric, the threshold of the newest upgrade into it (the ladder the topic shows). */
export async function observedThresholds(
  db: Db,
): Promise<{ tier: string; metric: string; threshold: number; at: number }[]> {
  const r = await db.query<{ to_tier: string; metric: string; threshold: number; effective_at: Date }>(
    `select distinct on (to_tier, metric) to_tier, metric, threshold, effective_at
       from api_dashboard_tier_metrics where direction = 'UP'
      order by to_tier, metric, effective_at desc, topic_offset desc`,
  );
  return r.rows.map((x) => ({
    tier: x.to_tier,
    metric: x.metric,
    threshold: x.threshold,
    at: x.effective_at.getTime(),
  }));
}

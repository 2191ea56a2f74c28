// What the marketers' console reads and writes (ADR 18): the API's read model of
// loyalty.rules.v1 (`api_rule_sets`, written only by src/rules-read-model.ts), the drafts a
// marketer key submits (`api_rule_drafts`), a member's lots, and daily points figures from the
// API's read model of loyalty.points.v1 (api_points_*, migration 508), as balances and history.
// The rules engine's own tables (rule_sets, rules_*, ledger_*) are never read here.
import { randomUUID } from "node:crypto";
import { ApiError } from "../domain/errors.ts";
import type { Db } from "./db.ts";

export interface PublicationRow {
  ruleSetId: string;
  version: number;
  publishedAt: number;
  publisher: string | null;
  keyId: string | null;
  signed: boolean;
  checksum: string;
  ruleSet: unknown;
  partition: number;
  offset: string;
}

/** Stores publications read from the topic; a (rule set, version) already stored is kept as it is. */
export async function storePublications(db: Db, rows: readonly PublicationRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await db.query(
    `insert into api_rule_sets (rule_set_id, version, published_at, publisher, key_id, signed, checksum,
                                rule_set, topic_partition, topic_offset)
     select * from unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::boolean[],
                          $7::text[], $8::jsonb[], $9::int[], $10::bigint[])
     on conflict (rule_set_id, version) do nothing`,
    [
      rows.map((x) => x.ruleSetId),
      rows.map((x) => x.version),
      rows.map((x) => new Date(x.publishedAt)),
      rows.map((x) => x.publisher),
      rows.map((x) => x.keyId),
      rows.map((x) => x.signed),
      rows.map((x) => x.checksum),
      rows.map((x) => JSON.stringify(x.ruleSet)),
      rows.map((x) => x.partition),
      rows.map((x) => x.offset),
    ],
  );
  return r.rowCount ?? 0;
}

export interface RuleSetVersionInfo {
  version: number;
  publishedAt: string;
  publisher: string | null;
  keyId: string | null;
  signed: boolean;
  checksum: string;
  description: string | null;
  ruleCount: number;
}

export interface DraftInfo {
  draftId: string;
  ruleSetId: string;
  version: number;
  submittedBy: string;
  submittedAt: string;
}

export interface RuleSetListing {
  ruleSetId: string;
  /** Newest first. */
  versions: RuleSetVersionInfo[];
  /** Drafts submitted from the console, newest first. */
  drafts: DraftInfo[];
}

/** Every rule set the API has read, each with its versions and drafts, by rule-set id. */
export async function listRuleSets(db: Db): Promise<RuleSetListing[]> {
  const v = await db.query<{
    rule_set_id: string;
    version: number;
    published_at: Date;
    publisher: string | null;
    key_id: string | null;
    signed: boolean;
    checksum: string;
    description: string | null;
    rule_count: number;
  }>(
    `select rule_set_id, version, published_at, publisher, key_id, signed, checksum,
            rule_set ->> 'description' as description,
            coalesce(jsonb_array_length(rule_set -> 'rules'), 0)::int as rule_count
       from api_rule_sets order by rule_set_id, version desc`,
  );
  const d = await db.query<{
    draft_id: string;
    rule_set_id: string;
    version: number;
    submitted_by: string;
    submitted_at: Date;
  }>(
    `select draft_id, rule_set_id, version, submitted_by, submitted_at
       from api_rule_drafts order by rule_set_id, submitted_at desc, draft_id limit 1000`,
  );
  const out = new Map<string, RuleSetListing>();
  const entry = (id: string) => {
    let e = out.get(id);
    if (!e) {
      e = { ruleSetId: id, versions: [], drafts: [] };
      out.set(id, e);
    }
    return e;
  };
  for (const r of v.rows)
    entry(r.rule_set_id).versions.push({
      version: r.version,
      publishedAt: r.published_at.toISOString(),
      publisher: r.publisher,
      keyId: r.key_id,
      signed: r.signed,
      checksum: r.checksum,
      description: r.description,
      ruleCount: r.rule_count,
    });
  for (const r of d.rows)
    entry(r.rule_set_id).drafts.push({
      draftId: r.draft_id,
      ruleSetId: r.rule_set_id,
      version: r.version,
      submittedBy: r.submitted_by,
      submittedAt: r.submitted_at.toISOString(),
    });
  return [...out.values()].sort((a, b) => a.ruleSetId.localeCompare(b.ruleSetId));
}

/** One published version with its rules; 404 RULESET_NOT_FOUND when the API has not read it. */
export async function ruleSetVersion(
  db: Db,
  ruleSetId: string,
  version: number,
): Promise<RuleSetVersionInfo & { ruleSetId: string; ruleSet: unknown }> {
  const r = await db.query<{
    published_at: Date;
    publisher: string | null;
    key_id: string | null;
    signed: boolean;
    checksum: string;
    rule_set: Record<string, unknown>;
  }>(
    `select published_at, publisher, key_id, signed, checksum, rule_set
       from api_rule_sets where rule_set_id = $1 and version = $2`,
    [ruleSetId, version],
  );
  const row = r.rows[0];
  if (!row)
    throw new ApiError(
      "RULESET_NOT_FOUND",
      `rule set ${ruleSetId} version ${version} has not been published (or not read yet)`,
      "params.version",
    );
  const rules = row.rule_set.rules;
  return {
    ruleSetId,
    version,
    publishedAt: row.published_at.toISOString(),
    publisher: row.publisher,
    keyId: row.key_id,
    signed: row.signed,
    checksum: row.checksum,
    description: typeof row.rule_set.description === "string" ? row.rule_set.description : null,
    ruleCount: Array.isArray(rules) ? rules.length : 0,
    ruleSet: row.rule_set,
  };
}

/** Records a validated draft; the caller has checked it with the engine's validator. */
export async function submitDraft(
  db: Db,
  d: { ruleSetId: string; version: number; ruleSet: unknown; submittedBy: string },
): Promise<DraftInfo> {
  const draftId = `drf-${randomUUID()}`;
  const r = await db.query<{ submitted_at: Date }>(
    `insert into api_rule_drafts (draft_id, rule_set_id, version, rule_set, submitted_by)
     values ($1, $2, $3, $4, $5) returning submitted_at`,
    [draftId, d.ruleSetId, d.version, JSON.stringify(d.ruleSet), d.submittedBy],
  );
  const at = r.rows[0]?.submitted_at;
  if (!at) throw new ApiError("INTERNAL", "draft insert returned no row");
  return {
    draftId,
    ruleSetId: d.ruleSetId,
    version: d.version,
    submittedBy: d.submittedBy,
    submittedAt: at.toISOString(),
  };
}

export interface DraftReview {
  decision: "approved" | "rejected";
  reviewedBy: string;
  reviewedAt: string;
  note: string | null;
}

export interface DraftDetail extends DraftInfo {
  ruleSet: unknown;
  /** Oldest first. */
  reviews: DraftReview[];
  /** The latest review's decision, or "submitted" before any; "published" once the read model has the version. */
  status: "submitted" | "approved" | "rejected" | "published";
  /** The publication of this rule set and version as the API read it from loyalty.rules.v1, if any. */
  published: { publishedAt: string; publisher: string | null; keyId: string | null; signed: boolean } | null;
}

/** A draft with its review trail and publication; null when there is no such draft. */
export async function draftDetail(db: Db, draftId: string): Promise<DraftDetail | null> {
  const d = await db.query<{
    rule_set_id: string;
    version: number;
    rule_set: unknown;
    submitted_by: string;
    submitted_at: Date;
    published_at: Date | null;
    publisher: string | null;
    key_id: string | null;
    signed: boolean | null;
  }>(
    `select d.rule_set_id, d.version, d.rule_set, d.submitted_by, d.submitted_at,
            s.published_at, s.publisher, s.key_id, s.signed
       from api_rule_drafts d
       left join api_rule_sets s on s.rule_set_id = d.rule_set_id and s.version = d.version
      where d.draft_id = $1`,
    [draftId],
  );
  const row = d.rows[0];
  if (!row) return null;
  const r = await db.query<{
    decision: "approved" | "rejected";
    reviewed_by: string;
    reviewed_at: Date;
    note: string | null;
  }>(
    `select decision, reviewed_by, reviewed_at, note from api_rule_draft_reviews
      where draft_id = $1 order by review_id`,
    [draftId],
  );
  const reviews = r.rows.map((x) => ({
    decision: x.decision,
    reviewedBy: x.reviewed_by,
    reviewedAt: x.reviewed_at.toISOString(),
    note: x.note,
  }));
  const published =
    row.published_at === null
      ? null
      : {
          publishedAt: row.published_at.toISOString(),
          publisher: row.publisher,
          keyId: row.key_id,
          signed: row.signed === true,
        };
  return {
    draftId,
    ruleSetId: row.rule_set_id,
    version: row.version,
    submittedBy: row.submitted_by,
    submittedAt: row.submitted_at.toISOString(),
    ruleSet: row.rule_set,
    reviews,
    status: published !== null ? "published" : (reviews.at(-1)?.decision ?? "submitted"),
    published,
  };
}

/**
 * Records a review of a draft. Refused: no such draft (404), the key that submitted it (403: a
 * second person reviews), a draft already published (409).
 */
export async function reviewDraft(
  db: Db,
  r: { draftId: string; decision: "approved" | "rejected"; reviewedBy: string; note: string | null },
): Promise<DraftDetail> {
  const before = await draftDetail(db, r.draftId);
  if (before === null) throw new ApiError("DRAFT_NOT_FOUND", `no draft ${r.draftId}`, "params.draftId");
  if (before.submittedBy === r.reviewedBy)
    throw new ApiError(
      "DRAFT_SELF_REVIEW",
      "the key that submitted a draft cannot review it: a second person does",
    );
  if (before.published !== null)
    throw new ApiError("DRAFT_PUBLISHED", `${before.ruleSetId} v${before.version} is already published`);
  await db.query(
    "insert into api_rule_draft_reviews (draft_id, decision, reviewed_by, note) values ($1, $2, $3, $4)",
    [r.draftId, r.decision, r.reviewedBy, r.note],
  );
  const after = await draftDetail(db, r.draftId);
  if (after === null) throw new ApiError("INTERNAL", "draft vanished during its review");
  return after;
}

export interface LotView {
  lotId: string;
  points: number;
  remaining: number;
  earnedAt: string;
  expiresAt: string;
  /** Due at the API's "now" (the engine expires it at its next punctuation). */
  due: boolean;
}

/** A member's lots with points left, soonest expiry first; null for a member the read model lacks. */
export async function memberLots(db: Db, memberId: string, now: number): Promise<LotView[] | null> {
  const r = await db.query<{
    lot_id: string | null;
    points: number | null;
    remaining: number | null;
    earned_at: Date | null;
    expires_at: Date | null;
    known: boolean;
  }>(
    `select l.lot_id, l.points, l.remaining, l.earned_at, l.expires_at,
            (b.member_id is not null) as known
       from (select $1::text as id) k
       left join api_points_balances b on b.member_id = k.id
       left join api_points_lots l on l.member_id = k.id and l.remaining > 0
      order by l.expires_at, l.lot_id`,
    [memberId],
  );
  if (!r.rows[0]?.known) return null;
  const lots: LotView[] = [];
  for (const l of r.rows) {
    if (l.lot_id === null || l.expires_at === null || l.earned_at === null) continue;
    lots.push({
      lotId: l.lot_id,
      points: l.points ?? 0,
      remaining: l.remaining ?? 0,
      earnedAt: l.earned_at.toISOString(),
      expiresAt: l.expires_at.toISOString(),
      due: l.expires_at.getTime() <= now,
    });
  }
  return lots;
}

export interface PointsDay {
  /** YYYY-MM-DD (UTC) of the entries' event time. */
  day: string;
  /** Points earned by rules (earn entries). */
  issued: number;
  /** Points taken back by refunds and cancellations of orders (as a positive number). */
  reversed: number;
  /** Points redeemed (as a positive number). */
  redeemed: number;
  /** Points expired (as a positive number). */
  expired: number;
  /** Net of manual adjustments and cancelled redemptions (kind adjust). */
  adjusted: number;
  entries: number;
}

/**
 * Points per UTC day of event time, for the `days` days up to the day of the newest entry in the
 * ledger, days without entries included as zeros (a replayed year of history is shown where its
 * events are, not around the wall clock). An empty ledger has no days.
 */
export async function pointsByDay(db: Db, days: number): Promise<{ to: string | null; days: PointsDay[] }> {
  const r = await db.query<{
    day: string;
    issued: string;
    reversed: string;
    redeemed: string;
    expired: string;
    adjusted: string;
    entries: string;
    last: Date | null;
  }>(
    `with last as (select max(event_time) as t from api_points_entries),
          span as (select date_trunc('day', t at time zone 'UTC') as d1 from last where t is not null),
          days as (select generate_series(d1 - make_interval(days => $1::int - 1), d1, interval '1 day') as d from span),
          agg as (
            select date_trunc('day', e.event_time at time zone 'UTC') as d,
                   sum(case when e.kind = 'earn' then e.points else 0 end) as issued,
                   sum(case when e.kind = 'reverse' then -e.points else 0 end) as reversed,
                   sum(case when e.kind = 'redeem' then -e.points else 0 end) as redeemed,
                   sum(case when e.kind = 'expire' then -e.points else 0 end) as expired,
                   sum(case when e.kind = 'adjust' then e.points else 0 end) as adjusted,
                   count(*) as entries
              from api_points_entries e, span
             where e.event_time >= (span.d1 - make_interval(days => $1::int - 1)) at time zone 'UTC'
             group by 1)
     select to_char(days.d, 'YYYY-MM-DD') as day,
            coalesce(agg.issued, 0) as issued, coalesce(agg.reversed, 0) as reversed,
            coalesce(agg.redeemed, 0) as redeemed, coalesce(agg.expired, 0) as expired,
            coalesce(agg.adjusted, 0) as adjusted, coalesce(agg.entries, 0) as entries,
            (select t from last) as last
       from days left join agg on agg.d = days.d
      order by days.d`,
    [days],
  );
  const last = r.rows.at(-1)?.last ?? null;
  return {
    to: last ? last.toISOString() : null,
    days: r.rows.map((x) => ({
      day: x.day,
      issued: Number(x.issued),
      reversed: Number(x.reversed),
      redeemed: Number(x.redeemed),
      expired: Number(x.expired),
      adjusted: Number(x.adjusted),
      entries: Number(x.entries),
    })),
  };
}

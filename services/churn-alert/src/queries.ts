// Read side, for the CLI and `member show`: a member's churn card, the fits, an as-of fit
// recomputed from the members' state in PostgreSQL, and the population by segment.

import type { PoolClient } from "@loyalty/db";
import type { Pool } from "pg";
import { type ChurnSettings, DEFAULT_SETTINGS } from "./config.ts";
import { type MemberSummary, scoreAt } from "./engine/member.ts";
import { fitPopulation, modelVersionFor } from "./engine/refit.ts";
import { ChurnNoDataError, ChurnStateError } from "./errors.ts";
import { DAY_MS, type MemberState, type RfmSegment, memberFeatures } from "./model/index.ts";
import { type FitRecord, insertFit, loadFit, loadModel } from "./store/fits.ts";
import { allSummaries, loadEngine } from "./store/members.ts";

type Db = PoolClient | Pool;

export interface ChurnCard {
  readonly memberId: string;
  /** Event time the card is computed at (the engine's frontier). */
  readonly asOf: number;
  readonly modelVersion: string;
  readonly pAlive: number;
  readonly expectedPurchases: number;
  readonly horizonDays: number;
  readonly expectedValueMinor: number;
  readonly segment: RfmSegment;
  readonly rfm: { readonly r: number; readonly f: number; readonly m: number };
  readonly lastAlertAt: number | null;
}

/**
 * The member's churn scores at the engine's current event time, under the model in force. Null
 * when the member has no purchase yet or no model has been fitted.
 */
export async function churnCard(
  pool: Db,
  memberId: string,
  settings: ChurnSettings = DEFAULT_SETTINGS,
): Promise<ChurnCard | null> {
  const engine = await loadEngine(pool, false);
  const model = await loadModel(pool, engine.modelVersion);
  if (model === null || engine.frontier === null) return null;
  const r = await pool.query<{
    x: number | null;
    first_day: number;
    last_day: number;
    purchase_days: number;
    total_minor: number;
    repeat_minor: number;
    last_purchase_at: number;
    last_alert_at: number | null;
  }>(
    `select x, first_day, last_day, purchase_days, total_minor, repeat_minor, last_purchase_at, last_alert_at
     from churn_members where member_id = $1`,
    [memberId],
  );
  const m = r.rows[0];
  if (m === undefined || m.x === null) return null;
  const s: MemberSummary = {
    x: m.x,
    firstDay: m.first_day,
    lastDay: m.last_day,
    purchaseDays: m.purchase_days,
    totalMinor: m.total_minor,
    repeatMinor: m.repeat_minor,
    lastPurchaseAt: m.last_purchase_at,
  };
  const score = scoreAt(s, engine.frontier, model, settings);
  return {
    memberId,
    asOf: engine.frontier,
    modelVersion: model.version,
    pAlive: score.pAlive,
    expectedPurchases: score.expectedPurchases,
    horizonDays: settings.horizonDays,
    expectedValueMinor: score.expectedValueMinor,
    segment: score.segment,
    rfm: score.rfm,
    lastAlertAt: m.last_alert_at,
  };
}

/**
 * Fits the population as of the end of calendar day `day` (UTC midnight of that day, epoch ms)
 * from every member's state in PostgreSQL: purchase days up to and including that day count and
 * T runs to its start, the calibration convention of Fader, Hardie & Lee. Stored as an "as-of"
 * fit; it does not replace the model in force.
 */
export async function fitAsOf(pool: Pool, day: number, settings: ChurnSettings = DEFAULT_SETTINGS) {
  if (day % DAY_MS !== 0) throw new RangeError("the as-of day must be a UTC midnight");
  const r = await pool.query<{ state: MemberState }>("select state from churn_members order by member_id");
  const summaries: MemberSummary[] = [];
  for (const { state } of r.rows) {
    const f = memberFeatures(state, day, { unitMs: settings.unitMs });
    if (f === null) continue;
    summaries.push({
      x: f.x,
      firstDay: Date.parse(`${f.firstPurchaseDay}T00:00:00Z`),
      lastDay: Date.parse(`${f.lastPurchaseDay}T00:00:00Z`),
      purchaseDays: f.purchaseDays,
      totalMinor: f.totalAmountMinor,
      repeatMinor: Math.round(f.monetaryMinor * f.x),
      lastPurchaseAt: f.lastPurchaseAt,
    });
  }
  const at = day + DAY_MS;
  const fit = fitPopulation(summaries, at, { ...settings, minFitMembers: 2 });
  if (fit === null)
    throw new ChurnNoDataError(`no members with purchases up to ${new Date(day).toISOString()}`);
  const version = modelVersionFor(day, "as-of");
  await insertFit(pool, version, "as-of", at, settings.unitMs, fit);
  const stored = await loadFit(pool, version);
  if (stored === null) throw new ChurnStateError(`as-of fit ${version} vanished after it was stored`);
  return stored;
}

/** Asks the running service to refit at its frontier on its next step. */
export async function requestRefit(pool: Pool): Promise<number> {
  const r = await pool.query<{ id: number }>("insert into churn_refit_requests default values returning id");
  return r.rows[0]?.id ?? 0;
}

export interface PopulationReport {
  readonly asOf: number | null;
  readonly modelVersion: string | null;
  readonly members: number;
  readonly belowThreshold: number;
  readonly segments: Readonly<Record<string, number>>;
  readonly alerts: number;
  readonly alertsByActionLevel: Readonly<Record<string, number>>;
}

/** Every member scored at the frontier under the model in force, counted by segment. */
export async function populationReport(
  pool: Pool,
  settings: ChurnSettings = DEFAULT_SETTINGS,
): Promise<PopulationReport> {
  const engine = await loadEngine(pool, false);
  const model = await loadModel(pool, engine.modelVersion);
  const summaries = await allSummaries(pool);
  const segments: Record<string, number> = {};
  let below = 0;
  if (model !== null && engine.frontier !== null) {
    for (const s of summaries) {
      const sc = scoreAt(s, engine.frontier, model, settings);
      segments[sc.segment] = (segments[sc.segment] ?? 0) + 1;
      if (sc.pAlive < settings.threshold) below++;
    }
  }
  const a = await pool.query<{ level: string; n: number }>(
    "select record->>'actionLevel' as level, count(*)::int as n from churn_alerts group by 1 order by 1",
  );
  const byLevel: Record<string, number> = {};
  for (const row of a.rows) byLevel[row.level] = row.n;
  return {
    asOf: engine.frontier,
    modelVersion: engine.modelVersion,
    members: summaries.length,
    belowThreshold: below,
    segments,
    alerts: a.rows.reduce((n, row) => n + row.n, 0),
    alertsByActionLevel: byLevel,
  };
}

export type { FitRecord };

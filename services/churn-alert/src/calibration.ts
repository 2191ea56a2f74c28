// Read side of the calibration report (`loyalty churn calibrate`, GET /calibration on the ops
// server): fits BG/NBD on the calibration period of what the engine has seen, from every member's
// state in PostgreSQL exactly as `fitAsOf` does, and sets the fit's expectations for the holdout
// period beside what the members did in it. Reads only; the fit is neither stored nor put in force.

import { LoyaltyError, OpsRequestError, type OpsRoute } from "@loyalty/stream-runtime";
import type { Pool } from "pg";
import { type ChurnSettings, DEFAULT_SETTINGS } from "./config.ts";
import type { MemberSummary } from "./engine/member.ts";
import { fitPopulation } from "./engine/refit.ts";
import { dayIndexOfKey } from "./model/calendar.ts";
import {
  type CalibrationFigures,
  type CalibrationMember,
  calibrationFigures,
  holdoutPurchaseDays,
  instantOfWallClock,
} from "./model/calibration.ts";
import { type BgNbdParams, DAY_MS, type MemberState, dayIndexAt, memberFeatures } from "./model/index.ts";
import { loadEngine } from "./store/members.ts";

/** The request cannot be answered as asked (bad days, nobody to fit): not retriable. */
export class CalibrationRequestError extends LoyaltyError {
  constructor(
    message: string,
    /** Which input is at fault: "calibrationEnd", "holdoutEnd", or null for the data. */
    readonly field: "calibrationEnd" | "holdoutEnd" | null,
  ) {
    super(message, { retriable: false });
  }
}

export interface CalibrationPeriods {
  /** Last day of the calibration period, "YYYY-MM-DD" (its purchases count). */
  readonly calibrationEnd: string;
  /** Last day of the holdout period (calibrationEnd, holdoutEnd], "YYYY-MM-DD". */
  readonly holdoutEnd: string;
}

export interface CalibrationReport extends CalibrationFigures {
  readonly calibrationEnd: string;
  readonly holdoutEnd: string;
  /** Model time unit in days (7: weeks); tx, T, holdoutLength are in it. */
  readonly unitDays: number;
  readonly fit: {
    readonly params: BgNbdParams;
    readonly logLikelihood: number;
    readonly members: number;
    readonly converged: boolean;
    readonly iterations: number;
  };
  /** Members whose first purchase falls after the calibration end: not in the cohort. */
  readonly laterMembers: number;
  /** The engine's event-time frontier (epoch ms): purchases after it are not counted yet. */
  readonly frontier: number | null;
  /** Whether the frontier has reached the holdout's last day (else the actual counts may be short). */
  readonly holdoutReached: boolean;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** "YYYY-MM-DD" of a real calendar day → its day index; null otherwise. */
export function parseDay(text: string): number | null {
  if (!DAY.test(text)) return null;
  const index = dayIndexOfKey(text);
  return new Date(index * DAY_MS).toISOString().slice(0, 10) === text ? index : null;
}

/** Validates the two days; throws CalibrationRequestError naming the one at fault. */
export function checkPeriods(p: CalibrationPeriods): { calibrationEnd: number; holdoutEnd: number } {
  const c = parseDay(p.calibrationEnd);
  if (c === null)
    throw new CalibrationRequestError(
      `calibrationEnd must be a date YYYY-MM-DD, got ${p.calibrationEnd}`,
      "calibrationEnd",
    );
  const h = parseDay(p.holdoutEnd);
  if (h === null)
    throw new CalibrationRequestError(
      `holdoutEnd must be a date YYYY-MM-DD, got ${p.holdoutEnd}`,
      "holdoutEnd",
    );
  if (h <= c)
    throw new CalibrationRequestError(
      `holdoutEnd (${p.holdoutEnd}) must come after calibrationEnd (${p.calibrationEnd})`,
      "holdoutEnd",
    );
  return { calibrationEnd: c * DAY_MS, holdoutEnd: h * DAY_MS };
}

/**
 * The calibration cohort from the members' states, with the features `fitAsOf` computes (purchase
 * days up to and including calibrationEnd, T to its start, in the service's unit) and each
 * member's holdout purchase days. Days are those of each state's zone.
 */
export function cohortOf(
  rows: ReadonlyArray<{ memberId: string; state: MemberState }>,
  periods: CalibrationPeriods,
  settings: ChurnSettings,
): { members: CalibrationMember[]; summaries: MemberSummary[]; laterMembers: number } {
  const { calibrationEnd } = checkPeriods(periods);
  const members: CalibrationMember[] = [];
  const summaries: MemberSummary[] = [];
  let laterMembers = 0;
  for (const { memberId, state } of rows) {
    const f = memberFeatures(state, instantOfWallClock(calibrationEnd, state.timeZone), {
      unitMs: settings.unitMs,
    });
    if (f === null) {
      if (Object.keys(state.days).length > 0) laterMembers++;
      continue;
    }
    summaries.push({
      x: f.x,
      firstDay: Date.parse(`${f.firstPurchaseDay}T00:00:00Z`),
      lastDay: Date.parse(`${f.lastPurchaseDay}T00:00:00Z`),
      purchaseDays: f.purchaseDays,
      totalMinor: f.totalAmountMinor,
      repeatMinor: Math.round(f.monetaryMinor * f.x),
      lastPurchaseAt: f.lastPurchaseAt,
    });
    members.push({
      memberId,
      x: f.x,
      tx: f.tx,
      T: f.T,
      actual: holdoutPurchaseDays(state, periods.calibrationEnd, periods.holdoutEnd),
    });
  }
  return { members, summaries, laterMembers };
}

/** Fits on the calibration period and compares with the holdout; see CalibrationReport. */
export async function calibrationReport(
  pool: Pool,
  periods: CalibrationPeriods,
  settings: ChurnSettings = DEFAULT_SETTINGS,
): Promise<CalibrationReport> {
  const { calibrationEnd, holdoutEnd } = checkPeriods(periods);
  const engine = await loadEngine(pool, false);
  const r = await pool.query<{ member_id: string; state: MemberState }>(
    "select member_id, state from churn_members order by member_id",
  );
  const cohort = cohortOf(
    r.rows.map((row) => ({ memberId: row.member_id, state: row.state })),
    periods,
    settings,
  );
  // The fit `fitAsOf` makes for this day, without storing it: T runs to the calibration end.
  const at = instantOfWallClock(calibrationEnd + DAY_MS, settings.timeZone);
  const fit = fitPopulation(cohort.summaries, at, { ...settings, minFitMembers: 2 });
  if (fit === null)
    throw new CalibrationRequestError(
      `fewer than 2 members with purchases up to ${periods.calibrationEnd}: nothing to fit`,
      null,
    );
  const figures = calibrationFigures(
    cohort.members,
    fit.bg.params,
    (holdoutEnd - calibrationEnd) / settings.unitMs,
  );
  return {
    calibrationEnd: periods.calibrationEnd,
    holdoutEnd: periods.holdoutEnd,
    unitDays: settings.unitMs / DAY_MS,
    fit: {
      params: fit.bg.params,
      logLikelihood: fit.bg.logLikelihood,
      members: fit.bg.members,
      converged: fit.bg.converged,
      iterations: fit.bg.iterations,
    },
    ...figures,
    laterMembers: cohort.laterMembers,
    frontier: engine.frontier,
    holdoutReached:
      engine.frontier !== null && dayIndexAt(engine.frontier, settings.timeZone) >= holdoutEnd / DAY_MS,
  };
}

const DAY_PARAM = { pattern: DAY, description: "a date YYYY-MM-DD", required: true } as const;

/**
 * GET /calibration?calibrationEnd=YYYY-MM-DD&holdoutEnd=YYYY-MM-DD on the ops server: the report
 * as JSON (400 VALIDATION_FAILED for bad days, 422 NO_DATA when nobody can be fitted).
 */
export function calibrationRoute(pool: Pool, settings: ChurnSettings = DEFAULT_SETTINGS): OpsRoute {
  return {
    path: "/calibration",
    query: { calibrationEnd: DAY_PARAM, holdoutEnd: DAY_PARAM },
    handle: async (q) => {
      try {
        return await calibrationReport(
          pool,
          { calibrationEnd: q.calibrationEnd ?? "", holdoutEnd: q.holdoutEnd ?? "" },
          settings,
        );
      } catch (err) {
        if (!(err instanceof CalibrationRequestError)) throw err;
        if (err.field === null) throw new OpsRequestError(422, "NO_DATA", err.message);
        throw new OpsRequestError(400, "VALIDATION_FAILED", err.message, `query.${err.field}`);
      }
    },
  };
}

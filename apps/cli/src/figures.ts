// The engine's figures as the CLI reports them. `tiers stats`, `ledger verify`, `churn report` and
// the demo's summary all call these functions, so the demo can never print a figure that the
// commands would contradict: the same query, on the same state, gives the same number.
import { type ChurnSettings, type PopulationReport, populationReport } from "@loyalty/churn-alert";
import type { Pool } from "@loyalty/db";
import { type LedgerReport, verifyLedger } from "@loyalty/rules-engine";
import { type TierStatsReport, readTierStats } from "@loyalty/tier-evaluator";

export type TierFigures = TierStatsReport & { atIso: string };

/**
 * Members per tier at `at` (default: the tier evaluator's clock). Not the stored `tier` column:
 * that is each member's tier as of its last evaluation, and in event time a member whose
 * partition's clock is behind the evaluator's has downgrades due that no event has applied yet.
 */
export async function tierFigures(pool: Pool, at?: number): Promise<TierFigures> {
  const r = await readTierStats(pool, at);
  return { ...r, atIso: new Date(r.at).toISOString() };
}

export interface LedgerFigures extends LedgerReport {
  /** Sum of every positive ledger entry (earned, bonuses, positive adjustments). */
  pointsIssued: number;
  /** Sum of balances (what `totalPoints` counts): issued less reversed, redeemed and expired. */
  pointsOutstanding: number;
  consistent: boolean;
}

export async function ledgerFigures(pool: Pool): Promise<LedgerFigures> {
  const report = await verifyLedger(pool);
  const issued = await pool.query<{ n: number }>(
    "select coalesce(sum(points), 0)::bigint as n from ledger_entries where points > 0",
  );
  return {
    ...report,
    pointsIssued: issued.rows[0]?.n ?? 0,
    pointsOutstanding: report.totalPoints,
    consistent: report.differences.length === 0,
  };
}

export type ChurnFigures = PopulationReport & { asOfIso: string | null };

export async function churnFigures(pool: Pool, settings: ChurnSettings): Promise<ChurnFigures> {
  const r = await populationReport(pool, settings);
  return { ...r, asOfIso: r.asOf === null ? null : new Date(r.asOf).toISOString() };
}

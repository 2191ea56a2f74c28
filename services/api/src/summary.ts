// The member summary: one function for GET /v1/members/{id} and `pnpm loyalty member show`.
// Balance, lots and expiry come from the ledger (its reads are the ledger-commands work's, ADR 16
// step 3); tier and churn card come from the API's own read models of loyalty.tiers.v1 and
// loyalty.churn-alerts.v1 (src/read-models.ts, migration 507), never from the tier evaluator's or
// churn-alert's tables (ADR 16 step 5).
import { DAY_MS, type OpenLot, expiringWithin } from "./domain/lots.ts";
import type { Db } from "./store/db.ts";
import { type LatestAlert, knownToReadModels, latestAlert, memberTier } from "./store/read-models.ts";

export const EXPIRY_HORIZONS_DAYS = [30, 60, 90] as const;

/**
 * The churn card: what loyalty.churn-alerts.v1 carries about the member, i.e. its latest alert.
 * A member churn-alert never alerted on has no card (null): its P(alive), CLV and segment are on
 * no topic (ADR 18, "Member card").
 */
export interface ChurnCardView {
  /** The fit behind the latest alert. */
  modelVersion: string;
  lastAlert: LatestAlert;
}

export interface MemberSummary {
  memberId: string;
  status: "open" | "closed";
  /** The to-tier of the member's latest change on loyalty.tiers.v1; null before any change. */
  tier: string | null;
  balance: number;
  debt: number;
  /** Points in lots still valid at `asOf` (what a redemption can use, capped by the balance). */
  available: number;
  expiring: { days: number; points: number; before: string }[];
  churn: ChurnCardView | null;
  asOf: string;
}

/** Null when neither the ledger nor the API's read models know the member. */
export async function memberSummary(db: Db, memberId: string, now: number): Promise<MemberSummary | null> {
  const m = await db.query<{
    balance: number | null;
    debt: number | null;
    in_ledger: boolean;
    closed: boolean;
  }>(
    `select b.balance, b.debt, b.member_id is not null as in_ledger,
            exists (select 1 from api_member_status s where s.member_id = $1 and s.status = 'closed') as closed
       from (select $1::text as id) k
       left join ledger_balances b on b.member_id = k.id`,
    [memberId],
  );
  const row = m.rows[0];
  if (!row) return null;
  if (!row.in_ledger && !(await knownToReadModels(db, memberId))) return null;
  const lots = await db.query<{ lot_id: string; remaining: number; expires_at: Date }>(
    "select lot_id, remaining, expires_at from ledger_lots where member_id = $1 and remaining > 0",
    [memberId],
  );
  const open: OpenLot[] = lots.rows.map((l) => ({
    lotId: l.lot_id,
    remaining: l.remaining,
    expiresAt: l.expires_at.getTime(),
  }));
  const balance = row.balance ?? 0;
  const valid = open.filter((l) => l.expiresAt > now).reduce((s, l) => s + l.remaining, 0);
  const [tier, alert] = await Promise.all([memberTier(db, memberId), latestAlert(db, memberId)]);
  return {
    memberId,
    status: row.closed ? "closed" : "open",
    tier,
    balance,
    debt: row.debt ?? 0,
    available: Math.max(0, Math.min(valid, balance)),
    expiring: expiringWithin(open, now, EXPIRY_HORIZONS_DAYS).map((e) => ({
      ...e,
      before: new Date(now + e.days * DAY_MS).toISOString(),
    })),
    churn: alert ? { modelVersion: alert.modelVersion, lastAlert: alert } : null,
    asOf: new Date(now).toISOString(),
  };
}

/** Plain-text rendering for the CLI. */
export function formatSummary(s: MemberSummary): string {
  const out = [
    `member ${s.memberId} (${s.status}) as of ${s.asOf}`,
    `  tier       ${s.tier ?? "-"}`,
    `  balance    ${s.balance}${s.debt ? ` (debt ${s.debt})` : ""}, available ${s.available}`,
    ...s.expiring.map(
      (e) => `  expiring   ${String(e.points).padStart(8)} within ${e.days} days (before ${e.before})`,
    ),
  ];
  if (s.churn) {
    const a = s.churn.lastAlert;
    out.push(
      `  churn      last alert ${a.at}: pAlive ${a.pAlive.toFixed(3)}, ${a.segment}, ${a.actionLevel} (model ${s.churn.modelVersion})`,
    );
  } else out.push("  churn      -");
  return out.join("\n");
}

// The member summary: one function for GET /v1/members/{id} and `pnpm loyalty member show`.
// Everything comes from the API's own read models, in one statement: balance, debt and lots with
// their expiry from loyalty.points.v1 (src/points-read-model.ts, migration 508), tier and churn
// card from loyalty.tiers.v1 and loyalty.churn-alerts.v1 (src/read-models.ts, migration 507). The
// API never reads the rules engine's, the tier evaluator's or churn-alert's tables (ADR 16).
import { prepared } from "@loyalty/db";
import { DAY_MS, type OpenLot, expiringWithin } from "./domain/lots.ts";
import type { Db } from "./store/db.ts";
import type { LatestAlert } from "./store/read-models.ts";

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

/** Null when none of the API's read models knows the member. */
export async function memberSummary(db: Db, memberId: string, now: number): Promise<MemberSummary | null> {
  const m = await db.query<{
    balance: string | null;
    debt: string | null;
    in_ledger: boolean;
    closed: boolean;
    lots: Array<[string, number, number]>;
    tier: string | null;
    alert: {
      event_time: string;
      p_alive: number;
      segment: string;
      action_level: string;
      model_version: string;
    } | null;
  }>({
    // Prepared: planned once per connection, so PostgreSQL neither parses nor plans it again (the
    // balance read is the API's hottest statement: `pnpm bench:api`).
    ...prepared(`select b.balance, b.debt, b.member_id is not null as in_ledger,
            exists (select 1 from api_member_status s where s.member_id = $1 and s.status = 'closed') as closed,
            (select coalesce(json_agg(json_build_array(l.lot_id, l.remaining,
                                      (extract(epoch from l.expires_at) * 1000)::bigint)), '[]'::json)
               from api_points_lots l where l.member_id = $1 and l.remaining > 0 and l.expires_at is not null) as lots,
            (select t.to_tier from api_tier_changes t where t.member_id = $1
              order by t.effective_at desc, t.topic_offset desc limit 1) as tier,
            (select row_to_json(a) from (
               select event_time, p_alive, segment, action_level, model_version from api_churn_alerts
                where member_id = $1 order by event_time desc, topic_offset desc limit 1) a) as alert
       from (select $1::text as id) k
       left join api_points_balances b on b.member_id = k.id`),
    values: [memberId],
  });
  const row = m.rows[0];
  if (!row) return null;
  if (!row.in_ledger && row.tier === null && row.alert === null) return null;
  const open: OpenLot[] = row.lots.map(([lotId, remaining, expiresAt]) => ({
    lotId,
    remaining: Number(remaining),
    expiresAt: Number(expiresAt),
  }));
  const balance = Number(row.balance ?? 0);
  const valid = open.filter((l) => l.expiresAt > now).reduce((s, l) => s + l.remaining, 0);
  const a = row.alert;
  const alert: LatestAlert | null = a
    ? {
        at: new Date(a.event_time).toISOString(),
        pAlive: a.p_alive,
        segment: a.segment,
        actionLevel: a.action_level,
        modelVersion: a.model_version,
      }
    : null;
  return {
    memberId,
    status: row.closed ? "closed" : "open",
    tier: row.tier,
    balance,
    debt: Number(row.debt ?? 0),
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

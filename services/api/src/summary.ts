// The member summary: one function for GET /v1/members/{id} and `pnpm loyalty member show`.
// Tier and churn card are read from the tier evaluator's and churn-alert's tables defensively
// (absent tables or rows → null): @loyalty/api has no dependency on those packages.
import { DAY_MS, type OpenLot, expiringWithin } from "./domain/lots.ts";
import type { Db } from "./store/db.ts";

export const EXPIRY_HORIZONS_DAYS = [30, 60, 90] as const;

export interface ChurnCardView {
  modelVersion: string | null;
  /** Event time of the churn engine's frontier (ISO), null before its first step. */
  asOf: string | null;
  lastPurchaseAt: string | null;
  purchaseDays: number;
  /** From the member's latest churn alert, when there is one. */
  lastAlert: {
    at: string;
    pAlive: number | null;
    segment: string;
    actionLevel: string;
    modelVersion: string;
  } | null;
}

export interface MemberSummary {
  memberId: string;
  status: "open" | "closed";
  tier: string | null;
  balance: number;
  debt: number;
  /** Points in lots still valid at `asOf` (what a redemption can use, capped by the balance). */
  available: number;
  expiring: { days: number; points: number; before: string }[];
  churn: ChurnCardView | null;
  asOf: string;
}

// Other services' tables never disappear once created: a positive answer is kept per pool.
const known = new WeakMap<object, Set<string>>();

async function tablesPresent(db: Db, names: readonly string[]): Promise<Set<string>> {
  const seen = known.get(db);
  if (seen && names.every((n) => seen.has(n))) return seen;
  const r = await db.query<{ name: string }>(
    "select n as name from unnest($1::text[]) as n where to_regclass(n) is not null",
    [names],
  );
  const found = new Set(r.rows.map((x) => x.name));
  if (names.every((n) => found.has(n))) known.set(db, found);
  return found;
}

/** Null when the member is not known to the ledger or the engine. */
export async function memberSummary(db: Db, memberId: string, now: number): Promise<MemberSummary | null> {
  const m = await db.query<{
    balance: number | null;
    debt: number | null;
    known: boolean;
    closed: boolean;
    engine_tier: string | null;
  }>(
    `select b.balance, b.debt,
            (b.member_id is not null or rm.member_id is not null) as known,
            exists (select 1 from api_member_status s where s.member_id = $1 and s.status = 'closed') as closed,
            rm.tier_state ->> 'tier' as engine_tier
       from (select $1::text as id) k
       left join ledger_balances b on b.member_id = k.id
       left join rules_members rm on rm.member_id = k.id`,
    [memberId],
  );
  const row = m.rows[0];
  if (!row?.known) return null;
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
  const present = await tablesPresent(db, ["tier_members", "churn_members", "churn_engine", "churn_alerts"]);
  let tier = row.engine_tier;
  if (present.has("tier_members")) {
    const t = await db.query<{ tier: string }>("select tier from tier_members where member_id = $1", [
      memberId,
    ]);
    tier = t.rows[0]?.tier ?? tier;
  }
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
    churn:
      present.has("churn_members") && present.has("churn_engine")
        ? await churnCardView(db, memberId, present)
        : null,
    asOf: new Date(now).toISOString(),
  };
}

const isoOrNull = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

async function churnCardView(db: Db, memberId: string, present: Set<string>): Promise<ChurnCardView | null> {
  const r = await db.query<{
    last_purchase_at: number | null;
    purchase_days: number;
    frontier: number | null;
    model_version: string | null;
  }>(
    `select m.last_purchase_at, m.purchase_days, e.frontier, e.model_version
       from churn_members m left join churn_engine e on e.id = 1 where m.member_id = $1`,
    [memberId],
  );
  const c = r.rows[0];
  if (!c) return null;
  let lastAlert: ChurnCardView["lastAlert"] = null;
  if (present.has("churn_alerts")) {
    const a = await db.query<{ event_time: number; record: Record<string, unknown> }>(
      "select event_time, record from churn_alerts where member_id = $1 order by event_time desc limit 1",
      [memberId],
    );
    const x = a.rows[0];
    if (x)
      lastAlert = {
        at: new Date(x.event_time).toISOString(),
        pAlive: typeof x.record.pAlive === "number" ? x.record.pAlive : null,
        segment: typeof x.record.segment === "string" ? x.record.segment : "",
        actionLevel: typeof x.record.actionLevel === "string" ? x.record.actionLevel : "",
        modelVersion: typeof x.record.modelVersion === "string" ? x.record.modelVersion : "",
      };
  }
  return {
    modelVersion: c.model_version,
    asOf: isoOrNull(c.frontier),
    lastPurchaseAt: isoOrNull(c.last_purchase_at),
    purchaseDays: c.purchase_days,
    lastAlert,
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
    out.push(
      `  churn      model ${s.churn.modelVersion ?? "-"} as of ${s.churn.asOf ?? "-"}, last purchase ${s.churn.lastPurchaseAt ?? "-"}, ${s.churn.purchaseDays} purchase day(s)`,
    );
    if (s.churn.lastAlert)
      out.push(
        `             last alert ${s.churn.lastAlert.at}: pAlive ${s.churn.lastAlert.pAlive?.toFixed(3) ?? "-"}, ${s.churn.lastAlert.segment}, ${s.churn.lastAlert.actionLevel}`,
      );
  } else out.push("  churn      -");
  return out.join("\n");
}

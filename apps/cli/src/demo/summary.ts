// The figures the demo ends with: computed by the same functions as `loyalty tiers stats`,
// `loyalty ledger verify` and `loyalty churn report` (figures.ts), on the same settled state.
import type { ChurnSettings } from "@loyalty/churn-alert";
import type { Pool } from "@loyalty/db";
import type { Admin } from "kafkajs";
import { endOffsets, topicsFor } from "../engine.ts";
import {
  type ChurnFigures,
  type LedgerFigures,
  type TierFigures,
  churnFigures,
  ledgerFigures,
  tierFigures,
} from "../figures.ts";

export interface EngineFigures {
  namespace: string;
  ledger: LedgerFigures;
  tiers: TierFigures;
  churn: ChurnFigures;
  /** Records on the dead-letter topic. */
  deadLetters: number;
  /** The member with the highest balance (a member to look at), null before any points. */
  topMember: string | null;
}

export async function engineFigures(
  pool: Pool,
  admin: Admin,
  ns: string,
  settings: ChurnSettings,
): Promise<EngineFigures> {
  const ledger = await ledgerFigures(pool);
  const tiers = await tierFigures(pool);
  const churn = await churnFigures(pool, settings);
  let deadLetters = 0;
  for (const n of (await endOffsets(admin, topicsFor(ns).dlq.name)).values()) deadLetters += n;
  const top = await pool.query<{ member_id: string }>(
    "select member_id from ledger_balances order by balance desc, member_id limit 1",
  );
  return { namespace: ns, ledger, tiers, churn, deadLetters, topMember: top.rows[0]?.member_id ?? null };
}

export interface ReplayFigures {
  file: string;
  sent: number;
  /** Seconds from the first order published to the last service caught up. */
  seconds: number;
  ordersPerSecond: number;
  publishSeconds: number;
  /** The service (or state) that caught up last, and when each did, seconds from the start. */
  lastToCatchUp: string;
  /** When the polling loop was sure nothing more would move (after its quiet polls): later than `seconds`. */
  noticedAtSeconds: number;
  caughtUpAtSeconds: Record<string, number>;
  /** Set when churn-alert's tail was not released within the demo's patience. */
  note: string | null;
}

export function formatFigures(f: EngineFigures, replay: ReplayFigures | null): string {
  const tiers = Object.entries(f.tiers.counts)
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");
  const lines = [`demo summary (namespace ${f.namespace === "" ? "(default)" : f.namespace})`];
  if (replay)
    lines.push(
      `  orders replayed    ${replay.sent} from ${replay.file}`,
      `  time taken         ${replay.seconds.toFixed(1)} s end to end, ${Math.round(replay.ordersPerSecond)} orders/s (published in ${replay.publishSeconds.toFixed(1)} s; last to catch up: ${replay.lastToCatchUp})`,
    );
  lines.push(
    `  points issued      ${f.ledger.pointsIssued} (outstanding ${f.ledger.pointsOutstanding}; ${f.ledger.entries} ledger entries, ${f.ledger.consistent ? "consistent" : `${f.ledger.differences.length} difference(s)`})`,
    `  members per tier   ${tiers || "-"} (${f.tiers.members} members, at ${f.tiers.atIso})`,
    `  churn alerts       ${f.churn.alerts}${f.churn.modelVersion ? ` (model ${f.churn.modelVersion})` : ""}`,
    `  dead letters       ${f.deadLetters}`,
  );
  if (replay?.note) lines.push(`  note               ${replay.note}`);
  return lines.join("\n");
}

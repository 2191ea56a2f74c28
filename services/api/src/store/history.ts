// A member's ledger history from the API's read model of loyalty.points.v1 (migration 508):
// entry ids, kinds, points, balances after and the rule (id, version, rule set) of each entry.
import { ApiError } from "../domain/errors.ts";
import type { Db } from "./db.ts";
import { memberState } from "./ledger.ts";

export interface HistoryEntry {
  entryId: string;
  seq: number;
  kind: string;
  points: number;
  balanceAfter: number;
  ruleId: string | null;
  ruleVersion: number | null;
  ruleSetId: string | null;
  ruleSetVersion: number | null;
  reason: string | null;
  sourceEventId: string;
  orderId: string | null;
  eventTime: string;
  recordedAt: string;
}

export interface HistoryPage {
  memberId: string;
  entries: HistoryEntry[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/**
 * Newest first, keyset-paged on seq: the order the API's read model of loyalty.points.v1 stored
 * the entries (a member's records are in ledger order in one partition), its seq the cursor.
 * recordedAt is when the read model stored the entry.
 */
export async function ledgerHistory(
  db: Db,
  memberId: string,
  limit: number,
  before: number | null,
): Promise<HistoryPage> {
  if ((await memberState(db, memberId)) === "unknown")
    throw new ApiError("MEMBER_NOT_FOUND", `member ${memberId} is not known`, "params.memberId");
  const r = await db.query<{
    entry_id: string;
    seq: number;
    kind: string;
    points: number;
    balance_after: number;
    rule_id: string | null;
    rule_version: number | null;
    rule_set_id: string | null;
    rule_set_version: number | null;
    reason: string | null;
    source_event_id: string;
    order_id: string | null;
    event_time: Date;
    recorded_at: Date;
  }>(
    `select entry_id, seq, kind, points, balance_after, rule_id, rule_version, rule_set_id, rule_set_version,
            reason, source_event_id, order_id, event_time, recorded_at
       from api_points_entries where member_id = $1 and ($2::bigint is null or seq < $2)
      order by seq desc limit $3`,
    [memberId, before, limit + 1],
  );
  const rows = r.rows.slice(0, limit);
  const last = rows[rows.length - 1];
  return {
    memberId,
    entries: rows.map((e) => ({
      entryId: e.entry_id,
      seq: e.seq,
      kind: e.kind,
      points: e.points,
      balanceAfter: e.balance_after,
      ruleId: e.rule_id,
      ruleVersion: e.rule_version,
      ruleSetId: e.rule_set_id,
      ruleSetVersion: e.rule_set_version,
      reason: e.reason,
      sourceEventId: e.source_event_id,
      orderId: e.order_id,
      eventTime: e.event_time.toISOString(),
      recordedAt: e.recorded_at.toISOString(),
    })),
    nextCursor: r.rows.length > limit && last ? String(last.seq) : null,
  };
}

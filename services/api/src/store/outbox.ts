import type { PointsKind, PointsMovement } from "@loyalty/contracts";
import type { PoolClient } from "@loyalty/db";

export const KIND_OF: Record<string, PointsKind> = {
  earn: "EARNED",
  reverse: "REVERSED",
  redeem: "REDEEMED",
  expire: "EXPIRED",
  adjust: "ADJUSTED",
};

/** Outbox rows are written in the caller's transaction: they exist iff the ledger rows do. */
export async function enqueue(c: PoolClient, movements: readonly PointsMovement[]): Promise<void> {
  if (movements.length === 0) return;
  await c.query(
    `insert into api_outbox (event_id, member_id, event_time, payload)
     select * from unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[])
     on conflict (event_id) do nothing`,
    [
      movements.map((m) => m.eventId),
      movements.map((m) => m.memberId),
      movements.map((m) => m.eventTime),
      movements.map((m) => JSON.stringify(m)),
    ],
  );
}

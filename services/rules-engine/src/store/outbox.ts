import type { PointsMovement } from "@loyalty/contracts";
import type { PoolClient } from "@loyalty/db";

/**
 * The member API's ledger writes (redemptions, cancellations, adjustments) go out through the
 * ledger's outbox (`api_outbox`, relayed by the API): written in the caller's transaction, they
 * exist iff the ledger rows do, and a retry names the same event ids. The engine's own entries,
 * expiries included, go out in its Kafka transactions (ADR 16 step 3).
 */
export async function enqueueMovements(c: PoolClient, movements: readonly PointsMovement[]): Promise<void> {
  if (movements.length === 0) return;
  await c.query(
    `insert into api_outbox (event_id, member_id, event_time, payload)
     select e, m, t, p
       from rows from (jsonb_to_recordset($1::jsonb) as (e text, m text, t bigint, p jsonb))
            with ordinality as u(e, m, t, p, ord)
      order by ord
     on conflict (event_id) do nothing`,
    // One JSON document rather than arrays of quoted JSON; in order (seq is the send order).
    [JSON.stringify(movements.map((m) => ({ e: m.eventId, m: m.memberId, t: m.eventTime, p: m })))],
  );
}

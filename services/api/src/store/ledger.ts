// Writes to the rules engine's points ledger: redemption, its cancellation and manual adjustment
// (expiry is the engine's alone: ADR 16 step 3). Each is ONE PostgreSQL transaction following
// services/rules-engine/README.md: lock the balance row (balances before lots; rules_members is
// never locked), take or restore lots FIFO, append the entry and its lot movements, update the
// balance, and write the PointsMovement to the outbox in the same transaction (ADR 9). Nothing
// here emits to Kafka directly. A cancellation that puts points back into a lot already expired
// leaves that lot to the engine, which expires it again at its next punctuation.
import type { PointsMovement } from "@loyalty/contracts";
import type { Pool, PoolClient } from "@loyalty/db";
import { ApiError } from "../domain/errors.ts";
import { adjustmentIdOf, entryIdOf, redemptionIdOf, requestHash } from "../domain/ids.ts";
import { type LotTake, type OpenLot, allocateFifo, restoration } from "../domain/lots.ts";
import { type Db, isUniqueViolation, iso, transaction } from "./db.ts";
import { enqueue } from "./outbox.ts";

export interface LotLine {
  lotId: string;
  points: number;
  expiresAt: string;
}

export interface RedemptionResult {
  redemptionId: string;
  memberId: string;
  status: "redeemed" | "cancelled";
  points: number;
  balanceAfter: number;
  entryId: string;
  orderId: string | null;
  eventTime: string;
  lots: LotLine[];
}

export interface AdjustmentResult {
  adjustmentId: string;
  memberId: string;
  points: number;
  balanceAfter: number;
  entryId: string;
  reason: string;
  eventTime: string;
  lots: LotLine[];
}

export interface Stored<T> {
  status: number;
  body: T;
  /** True when this answer is the stored first answer to the same Idempotency-Key. */
  replayed: boolean;
}

interface Balance {
  balance: number;
  debt: number;
}

/** A member exists once the engine or the ledger knows them. */
export async function memberState(db: Db, memberId: string): Promise<"unknown" | "open" | "closed"> {
  const r = await db.query<{ known: boolean; closed: boolean }>(
    `select (exists (select 1 from ledger_balances where member_id = $1)
             or exists (select 1 from rules_members where member_id = $1)) as known,
            exists (select 1 from api_member_status where member_id = $1 and status = 'closed') as closed`,
    [memberId],
  );
  const row = r.rows[0];
  if (!row?.known) return "unknown";
  return row.closed ? "closed" : "open";
}

async function requireMember(db: Db, memberId: string, allowClosed: boolean): Promise<void> {
  const s = await memberState(db, memberId);
  if (s === "unknown")
    throw new ApiError("MEMBER_NOT_FOUND", `member ${memberId} is not known`, "params.memberId");
  if (s === "closed" && !allowClosed)
    throw new ApiError("MEMBER_CLOSED", `member ${memberId} is closed`, "params.memberId");
}

/** Step 1 of every write: the member's balance row, created if missing, locked. */
async function lockBalance(c: PoolClient, memberId: string): Promise<Balance> {
  await c.query("insert into ledger_balances (member_id, balance) values ($1, 0) on conflict do nothing", [
    memberId,
  ]);
  const r = await c.query<Balance>(
    "select balance, debt from ledger_balances where member_id = $1 for update",
    [memberId],
  );
  const b = r.rows[0];
  if (!b) throw new Error(`balance row of ${memberId} vanished`);
  return b;
}

async function openLots(c: PoolClient, memberId: string, now: number): Promise<OpenLot[]> {
  const r = await c.query<{ lot_id: string; remaining: number; expires_at: Date }>(
    `select lot_id, remaining, expires_at from ledger_lots
      where member_id = $1 and remaining > 0 and expires_at > $2
      order by expires_at, lot_id for update`,
    [memberId, new Date(now)],
  );
  return r.rows.map((l) => ({ lotId: l.lot_id, remaining: l.remaining, expiresAt: l.expires_at.getTime() }));
}

interface EntryRow {
  entryId: string;
  memberId: string;
  kind: "redeem" | "adjust";
  points: number;
  balanceAfter: number;
  sourceEventId: string;
  orderId: string | null;
  reason: string | null;
  eventTime: number;
  detail: unknown;
}

async function insertEntries(c: PoolClient, rows: readonly EntryRow[]): Promise<void> {
  await c.query(
    `insert into ledger_entries
       (entry_id, member_id, kind, points, balance_after, source_event_id, order_id, reason, event_time, detail)
     select entry_id, member_id, kind, points, balance_after, source_event_id, order_id, reason, event_time, detail
       from rows from (jsonb_to_recordset($1::jsonb)
              as (entry_id text, member_id text, kind text, points bigint, balance_after bigint,
                  source_event_id text, order_id text, reason text, event_time timestamptz, detail jsonb))
            with ordinality as u(entry_id, member_id, kind, points, balance_after, source_event_id, order_id, reason,
                                 event_time, detail, ord)
      order by ord`,
    [
      // One JSON document rather than arrays (pg escapes every element; detail is quoted JSON).
      JSON.stringify(
        rows.map((r) => ({
          entry_id: r.entryId,
          member_id: r.memberId,
          kind: r.kind,
          points: r.points,
          balance_after: r.balanceAfter,
          source_event_id: r.sourceEventId,
          order_id: r.orderId,
          reason: r.reason,
          event_time: new Date(r.eventTime).toISOString(),
          detail: r.detail ?? null,
        })),
      ),
    ],
  );
}

/** Signed movements: lots' remaining changes by `points`, one movement row per (entry, lot). */
async function moveLots(
  c: PoolClient,
  moves: readonly { entryId: string; lotId: string; points: number }[],
): Promise<void> {
  if (moves.length === 0) return;
  await c.query(
    `update ledger_lots l set remaining = l.remaining + t.points
       from unnest($1::text[], $2::bigint[]) as t(lot_id, points) where l.lot_id = t.lot_id`,
    [moves.map((m) => m.lotId), moves.map((m) => m.points)],
  );
  await c.query(
    `insert into ledger_lot_movements (entry_id, lot_id, points)
     select * from unnest($1::text[], $2::text[], $3::bigint[])`,
    [moves.map((m) => m.entryId), moves.map((m) => m.lotId), moves.map((m) => m.points)],
  );
}

async function setBalance(c: PoolClient, memberId: string, balance: number, debt: number): Promise<void> {
  await c.query(
    "update ledger_balances set balance = $2, debt = $3, updated_at = now() where member_id = $1",
    [memberId, balance, debt],
  );
}

const movement = (e: EntryRow, lotExpiresAt: number | null = null): PointsMovement => ({
  eventId: e.entryId,
  memberId: e.memberId,
  kind: e.kind === "redeem" ? "REDEEMED" : "ADJUSTED",
  points: e.points,
  balanceAfter: e.balanceAfter,
  ruleId: null,
  ruleVersion: null,
  ruleSetVersion: null,
  sourceEventId: e.sourceEventId,
  orderId: e.orderId,
  reason: e.reason,
  eventTime: e.eventTime,
  lotExpiresAt,
});

const lines = (takes: readonly LotTake[]): LotLine[] =>
  takes.map((t) => ({ lotId: t.lotId, points: t.points, expiresAt: iso(t.expiresAt) }));

async function storedAnswer<T>(
  db: Db,
  keyId: string,
  idempotencyKey: string,
  hash: string,
): Promise<Stored<T> | null> {
  const r = await db.query<{ request_hash: string; status_code: number; response: T }>(
    "select request_hash, status_code, response from api_requests where key_id = $1 and idempotency_key = $2",
    [keyId, idempotencyKey],
  );
  const row = r.rows[0];
  if (!row) return null;
  if (row.request_hash !== hash)
    throw new ApiError(
      "IDEMPOTENCY_KEY_REUSED",
      "this Idempotency-Key was used with a different request",
      "headers.idempotency-key",
    );
  return { status: row.status_code, body: row.response, replayed: true };
}

async function storeAnswer(
  c: PoolClient,
  keyId: string,
  idempotencyKey: string,
  operation: string,
  hash: string,
  status: number,
  body: unknown,
): Promise<void> {
  await c.query(
    `insert into api_requests (key_id, idempotency_key, operation, request_hash, status_code, response)
     values ($1, $2, $3, $4, $5, $6)`,
    [keyId, idempotencyKey, operation, hash, status, JSON.stringify(body)],
  );
}

/**
 * Runs an idempotent write: the stored answer if this (key, Idempotency-Key) already succeeded,
 * else `write` (which stores its answer in its own transaction). Two concurrent first attempts
 * for different members collide on the api_requests key: the loser runs again and finds the
 * winner's answer (or a 409 when the bodies differ).
 */
async function idempotent<T>(
  pool: Pool,
  keyId: string,
  idempotencyKey: string,
  hash: string,
  write: () => Promise<Stored<T>>,
): Promise<Stored<T>> {
  for (let attempt = 0; ; attempt++) {
    const prior = await storedAnswer<T>(pool, keyId, idempotencyKey, hash);
    if (prior) return prior;
    try {
      return await write();
    } catch (err) {
      if (attempt === 0 && isUniqueViolation(err)) continue;
      throw err;
    }
  }
}

export interface RedeemRequest {
  keyId: string;
  idempotencyKey: string;
  memberId: string;
  points: number;
  orderId: string | null;
  reason: string | null;
}

export function redeem(pool: Pool, req: RedeemRequest, now: number): Promise<Stored<RedemptionResult>> {
  const hash = requestHash({
    op: "redeem",
    memberId: req.memberId,
    points: req.points,
    orderId: req.orderId,
    reason: req.reason,
  });
  return idempotent(pool, req.keyId, req.idempotencyKey, hash, () =>
    transaction(pool, async (c) => {
      await requireMember(c, req.memberId, false);
      const bal = await lockBalance(c, req.memberId);
      // A concurrent retry with the same key may have committed while this one waited.
      const prior = await storedAnswer<RedemptionResult>(c, req.keyId, req.idempotencyKey, hash);
      if (prior) return prior;
      const lots = await openLots(c, req.memberId, now);
      const alloc = allocateFifo(lots, req.points, now, bal.balance);
      if (!alloc.ok)
        throw new ApiError(
          "INSUFFICIENT_BALANCE",
          `member ${req.memberId} has ${alloc.available} points available, ${req.points} requested`,
          "body.points",
        );
      const redemptionId = redemptionIdOf(req.keyId, req.idempotencyKey);
      const balanceAfter = bal.balance - req.points;
      const entry: EntryRow = {
        entryId: entryIdOf(redemptionId, null, "redeem", req.memberId),
        memberId: req.memberId,
        kind: "redeem",
        points: -req.points,
        balanceAfter,
        sourceEventId: redemptionId,
        orderId: req.orderId,
        reason: req.reason,
        eventTime: now,
        detail: { redemptionId, keyId: req.keyId, idempotencyKey: req.idempotencyKey },
      };
      await insertEntries(c, [entry]);
      await moveLots(
        c,
        alloc.takes.map((t) => ({ entryId: entry.entryId, lotId: t.lotId, points: -t.points })),
      );
      await setBalance(c, req.memberId, balanceAfter, bal.debt);
      await c.query(
        `insert into api_redemptions (redemption_id, member_id, entry_id, points, order_id, event_time, key_id)
         values ($1, $2, $3, $4, $5, $6, $7)`,
        [redemptionId, req.memberId, entry.entryId, req.points, req.orderId, new Date(now), req.keyId],
      );
      await enqueue(c, [movement(entry)]);
      const body: RedemptionResult = {
        redemptionId,
        memberId: req.memberId,
        status: "redeemed",
        points: req.points,
        balanceAfter,
        entryId: entry.entryId,
        orderId: req.orderId,
        eventTime: iso(now),
        lots: lines(alloc.takes),
      };
      await storeAnswer(c, req.keyId, req.idempotencyKey, "redeem", hash, 201, body);
      return { status: 201, body, replayed: false };
    }),
  );
}

/** The cancellation as recorded in the ledger (the answer to a repeated cancel). */
async function cancellationOf(
  db: Db,
  redemptionId: string,
  cancelEntryId: string,
): Promise<RedemptionResult> {
  const r = await db.query<{
    member_id: string;
    points: number;
    balance_after: number;
    event_time: Date;
    order_id: string | null;
  }>(
    `select e.member_id, e.points, e.balance_after, e.event_time, r.order_id
       from ledger_entries e join api_redemptions r on r.cancel_entry_id = e.entry_id
      where e.entry_id = $1`,
    [cancelEntryId],
  );
  const e = r.rows[0];
  if (!e) throw new Error(`cancellation entry ${cancelEntryId} not found`);
  const m = await db.query<{ lot_id: string; points: number; expires_at: Date }>(
    `select m.lot_id, m.points, l.expires_at from ledger_lot_movements m join ledger_lots l using (lot_id)
      where m.entry_id = $1 order by l.expires_at, m.lot_id`,
    [cancelEntryId],
  );
  return {
    redemptionId,
    memberId: e.member_id,
    status: "cancelled",
    points: e.points,
    balanceAfter: e.balance_after,
    entryId: cancelEntryId,
    orderId: e.order_id,
    eventTime: e.event_time.toISOString(),
    lots: m.rows.map((x) => ({ lotId: x.lot_id, points: x.points, expiresAt: x.expires_at.toISOString() })),
  };
}

/**
 * Cancels a redemption: an `adjust` entry of +points whose movements put back into each
 * original lot exactly what the redemption took from it (so the points keep their original
 * expiry). Repeating it answers the recorded cancellation and changes nothing.
 */
/**
 * Who asks for a cancellation: the key id (a plain field, so it can travel in a ledger command)
 * and whether that key is an admin key. Only the key that made the redemption, or an admin key,
 * may cancel it.
 */
export interface CancelRequest {
  memberId: string;
  redemptionId: string;
  reason: string | null;
  keyId: string;
  admin: boolean;
}

export function cancelRedemption(
  pool: Pool,
  req: CancelRequest,
  now: number,
): Promise<Stored<RedemptionResult>> {
  return transaction(pool, async (c) => {
    await requireMember(c, req.memberId, true);
    const bal = await lockBalance(c, req.memberId);
    const r = await c.query<{
      entry_id: string;
      points: number;
      order_id: string | null;
      cancel_entry_id: string | null;
      key_id: string | null;
    }>(
      "select entry_id, points, order_id, cancel_entry_id, key_id from api_redemptions where redemption_id = $1 and member_id = $2",
      [req.redemptionId, req.memberId],
    );
    const red = r.rows[0];
    if (!red)
      throw new ApiError(
        "REDEMPTION_NOT_FOUND",
        `member ${req.memberId} has no redemption ${req.redemptionId}`,
        "params.redemptionId",
      );
    // Before anything else, a repeated cancellation included: another key learns nothing more.
    if (!req.admin && red.key_id !== req.keyId)
      throw new ApiError(
        "REDEMPTION_FORBIDDEN",
        `redemption ${req.redemptionId} was made by another API key: only that key or an admin key may cancel it`,
        "headers.authorization",
      );
    if (red.cancel_entry_id !== null)
      return {
        status: 200,
        body: await cancellationOf(c, req.redemptionId, red.cancel_entry_id),
        replayed: true,
      };
    const mv = await c.query<{ lot_id: string; points: number; expires_at: Date }>(
      `select m.lot_id, m.points, l.expires_at from ledger_lot_movements m join ledger_lots l using (lot_id)
        where m.entry_id = $1 order by m.lot_id for update of l`,
      [red.entry_id],
    );
    const back = restoration(mv.rows.map((m) => ({ lotId: m.lot_id, points: m.points })));
    const total = back.reduce((s, b) => s + b.points, 0);
    if (total !== red.points) throw new Error(`redemption ${req.redemptionId} movements do not add up`);
    const balanceAfter = bal.balance + total;
    const entry: EntryRow = {
      entryId: entryIdOf(req.redemptionId, null, "adjust", req.memberId),
      memberId: req.memberId,
      kind: "adjust",
      points: total,
      balanceAfter,
      sourceEventId: req.redemptionId,
      orderId: red.order_id,
      reason: "redemption-cancelled",
      eventTime: now,
      detail: { cancels: red.entry_id, redemptionId: req.redemptionId, note: req.reason },
    };
    await insertEntries(c, [entry]);
    await moveLots(
      c,
      back.map((b) => ({ entryId: entry.entryId, lotId: b.lotId, points: b.points })),
    );
    await setBalance(c, req.memberId, balanceAfter, bal.debt);
    await c.query(
      "update api_redemptions set cancel_entry_id = $2, cancelled_at = $3 where redemption_id = $1",
      [req.redemptionId, entry.entryId, new Date(now)],
    );
    await enqueue(c, [movement(entry)]);
    const expiry = new Map(mv.rows.map((m) => [m.lot_id, m.expires_at.getTime()]));
    const body: RedemptionResult = {
      redemptionId: req.redemptionId,
      memberId: req.memberId,
      status: "cancelled",
      points: total,
      balanceAfter,
      entryId: entry.entryId,
      orderId: red.order_id,
      eventTime: iso(now),
      lots: back
        .map((b) => ({ lotId: b.lotId, points: b.points, expiresAt: expiry.get(b.lotId) ?? 0 }))
        .sort((a, b) => a.expiresAt - b.expiresAt || (a.lotId < b.lotId ? -1 : 1))
        .map((b) => ({ ...b, expiresAt: iso(b.expiresAt) })),
    };
    return { status: 200, body, replayed: false };
  });
}

export interface AdjustRequest {
  keyId: string;
  idempotencyKey: string;
  memberId: string;
  points: number;
  reason: string;
  /** Expiry of the lot a positive adjustment creates. */
  expiresAt: number;
}

/**
 * A manual adjustment (admin). Positive: first pays off debt, the rest becomes a new lot
 * (lot id = the entry id) expiring at `expiresAt`. Negative: taken from the lots FIFO like a
 * redemption, never below zero.
 */
export function adjust(pool: Pool, req: AdjustRequest, now: number): Promise<Stored<AdjustmentResult>> {
  const hash = requestHash({
    op: "adjust",
    memberId: req.memberId,
    points: req.points,
    reason: req.reason,
    expiresAt: req.expiresAt,
  });
  return idempotent(pool, req.keyId, req.idempotencyKey, hash, () =>
    transaction(pool, async (c) => {
      await requireMember(c, req.memberId, true);
      const bal = await lockBalance(c, req.memberId);
      const prior = await storedAnswer<AdjustmentResult>(c, req.keyId, req.idempotencyKey, hash);
      if (prior) return prior;
      const adjustmentId = adjustmentIdOf(req.keyId, req.idempotencyKey);
      const entryId = entryIdOf(adjustmentId, null, "adjust", req.memberId);
      const balanceAfter = bal.balance + req.points;
      let debt = bal.debt;
      let moves: { lotId: string; points: number; expiresAt: number }[];
      if (req.points < 0) {
        const alloc = allocateFifo(await openLots(c, req.memberId, now), -req.points, now, bal.balance);
        if (!alloc.ok)
          throw new ApiError(
            "INSUFFICIENT_BALANCE",
            `member ${req.memberId} has ${alloc.available} points available, ${-req.points} to remove`,
            "body.points",
          );
        moves = alloc.takes.map((t) => ({ lotId: t.lotId, points: -t.points, expiresAt: t.expiresAt }));
      } else {
        const toDebt = Math.min(debt, req.points);
        debt -= toDebt;
        const intoLot = req.points - toDebt;
        moves = intoLot > 0 ? [{ lotId: entryId, points: intoLot, expiresAt: req.expiresAt }] : [];
      }
      const entry: EntryRow = {
        entryId,
        memberId: req.memberId,
        kind: "adjust",
        points: req.points,
        balanceAfter,
        sourceEventId: adjustmentId,
        orderId: null,
        reason: req.reason,
        eventTime: now,
        detail: { adjustmentId, keyId: req.keyId, debtPaid: bal.debt - debt },
      };
      await insertEntries(c, [entry]);
      const created = moves.find((m) => m.lotId === entryId);
      // A lot the entry creates starts full and has no movement (as an earn's).
      if (created)
        await c.query(
          `insert into ledger_lots (lot_id, member_id, points, remaining, earned_at, expires_at)
           values ($1, $2, $3, $3, $4, $5)`,
          [entryId, req.memberId, created.points, new Date(now), new Date(created.expiresAt)],
        );
      await moveLots(
        c,
        moves.filter((m) => m !== created).map((m) => ({ entryId, lotId: m.lotId, points: m.points })),
      );
      await setBalance(c, req.memberId, balanceAfter, debt);
      await enqueue(c, [movement(entry, created ? created.expiresAt : null)]);
      const body: AdjustmentResult = {
        adjustmentId,
        memberId: req.memberId,
        points: req.points,
        balanceAfter,
        entryId,
        reason: req.reason,
        eventTime: iso(now),
        lots: moves.map((m) => ({ lotId: m.lotId, points: m.points, expiresAt: iso(m.expiresAt) })),
      };
      await storeAnswer(c, req.keyId, req.idempotencyKey, "adjust", hash, 201, body);
      return { status: 201, body, replayed: false };
    }),
  );
}

/** Closes a member: redemptions are refused from then on. */
export async function closeMember(pool: Pool, memberId: string, reason: string): Promise<void> {
  await requireMember(pool, memberId, true);
  await pool.query(
    `insert into api_member_status (member_id, status, reason) values ($1, 'closed', $2)
     on conflict (member_id) do nothing`,
    [memberId, reason],
  );
}

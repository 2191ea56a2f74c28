// Redemption, its cancellation and manual adjustment, as ledger commands (ADR 16 step 3). The API
// writes no ledger table: it records the command (api_ledger_commands, and the Idempotency-Key's
// pending answer in api_requests), sends it to the ledger's owner, the rules engine, and waits for
// the reply (src/ledger-commands.ts). The reply becomes the same HTTP answer as when the API wrote
// the ledger itself (201/200 with the entry, balance and lots; 422 INSUFFICIENT_BALANCE, 404
// MEMBER_NOT_FOUND / REDEMPTION_NOT_FOUND), stored where a retry and the status URL find it. No
// reply within LEDGER_REPLY_TIMEOUT_MS: 202 with GET /v1/ledger-commands/{commandId}.
import type { LedgerCommand, LedgerReply } from "@loyalty/contracts";
import { stableId } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import type { Logger } from "@loyalty/stream-runtime";
import { ApiError, type ErrorBody, type ErrorCode } from "../domain/errors.ts";
import { adjustmentIdOf, redemptionIdOf, requestHash } from "../domain/ids.ts";
import type { LedgerGateway } from "../ledger-commands.ts";
import { type Db, iso, transaction } from "./db.ts";

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

/** The answer to a command not answered within the timeout. */
export interface PendingResult {
  commandId: string;
  status: "pending";
  statusUrl: string;
}

export interface Stored<T> {
  status: number;
  body: T;
  /** True when this answer is the stored first answer to the same Idempotency-Key. */
  replayed: boolean;
}

/** An HTTP answer to a command: 2xx with its result, or >= 400 with the error body. */
export interface Answer {
  status: number;
  body: unknown;
}

export type Operation = "redeem" | "cancel" | "adjust";

/** What the answer needs that the reply does not carry, and the command as sent. */
interface CommandRequest {
  orderId?: string | null;
  reason?: string | null;
  redemptionId?: string;
  /** Sent again at start while unanswered (pendingCommands). */
  command?: LedgerCommand;
}

export const statusUrlOf = (commandId: string) => `/v1/ledger-commands/${commandId}`;

const pendingOf = (commandId: string): PendingResult => ({
  commandId,
  status: "pending",
  statusUrl: statusUrlOf(commandId),
});

const REJECTIONS: Readonly<Record<string, { code: ErrorCode; field: (op: Operation) => string }>> = {
  INSUFFICIENT_BALANCE: { code: "INSUFFICIENT_BALANCE", field: () => "body.points" },
  MEMBER_NOT_FOUND: { code: "MEMBER_NOT_FOUND", field: () => "params.memberId" },
  REDEMPTION_NOT_FOUND: { code: "REDEMPTION_NOT_FOUND", field: () => "params.redemptionId" },
};

/** The HTTP answer a reply gives (pure). */
export function answerOf(
  op: Operation,
  command: { commandId: string; memberId: string; request: CommandRequest },
  reply: LedgerReply,
): Answer {
  if (reply.status === "REJECTED") {
    const r = REJECTIONS[reply.reasonCode ?? ""];
    const e = r
      ? new ApiError(r.code, reply.message ?? r.code, r.field(op))
      : new ApiError("VALIDATION_FAILED", reply.message ?? "the ledger refused the command", "body");
    return { status: e.status, body: e.body() };
  }
  const lots = reply.lotsJson === null ? [] : (JSON.parse(reply.lotsJson) as LotLine[]);
  const common = {
    memberId: reply.memberId,
    balanceAfter: reply.balanceAfter ?? 0,
    entryId: reply.entryId ?? "",
    eventTime: iso(reply.appliedAt),
    lots,
  };
  switch (op) {
    case "redeem": {
      const body: RedemptionResult = {
        redemptionId: command.commandId,
        status: "redeemed",
        points: -(reply.points ?? 0),
        orderId: command.request.orderId ?? null,
        ...common,
      };
      return { status: 201, body };
    }
    case "cancel": {
      const body: RedemptionResult = {
        redemptionId: command.request.redemptionId ?? "",
        status: "cancelled",
        points: reply.points ?? 0,
        orderId: command.request.orderId ?? null,
        ...common,
      };
      return { status: 200, body };
    }
    case "adjust": {
      const body: AdjustmentResult = {
        adjustmentId: command.commandId,
        points: reply.points ?? 0,
        reason: command.request.reason ?? "",
        ...common,
      };
      return { status: 201, body };
    }
  }
}

/**
 * Stores the answers of replies to commands the API sent (api_ledger_commands, api_requests,
 * api_redemptions), once: the first instance to settle a reply writes it. One transaction per
 * batch of replies, one statement per table. Returns the answers of
 * the commands `wanted` (settled now or before).
 */
export async function settleReplies(
  pool: Pool,
  replies: readonly LedgerReply[],
  wanted: (commandId: string) => boolean,
): Promise<Map<string, Answer>> {
  const ids = [...new Set(replies.map((r) => r.commandId))];
  const out = new Map<string, Answer>();
  await transaction(pool, async (c) => {
    out.clear();
    const rows = await c.query<{
      command_id: string;
      key_id: string;
      idempotency_key: string | null;
      member_id: string;
      operation: Operation;
      request: CommandRequest;
      http_status: number | null;
      response: unknown;
    }>(
      `select command_id, key_id, idempotency_key, member_id, operation, request, http_status, response
         from api_ledger_commands where command_id = any($1) order by command_id for update`,
      [ids],
    );
    const byId = new Map(replies.map((r) => [r.commandId, r]));
    // What this batch settles, computed first, then written set-based: one statement per table.
    const settled: Array<{ id: string; a: Answer }> = [];
    const finals: Array<{ key: string; idem: string; a: Answer }> = [];
    const refused: Array<{ key: string; idem: string }> = [];
    const redeemed: Array<Record<string, unknown>> = [];
    const cancelled: Array<Record<string, unknown>> = [];
    for (const row of rows.rows) {
      if (row.http_status !== null) {
        if (wanted(row.command_id)) out.set(row.command_id, { status: row.http_status, body: row.response });
        continue;
      }
      const reply = byId.get(row.command_id);
      if (reply === undefined) continue;
      const a = answerOf(
        row.operation,
        { commandId: row.command_id, memberId: row.member_id, request: row.request },
        reply,
      );
      settled.push({ id: row.command_id, a });
      if (row.idempotency_key !== null) {
        if (a.status < 300) finals.push({ key: row.key_id, idem: row.idempotency_key, a });
        // A refusal is not the key's answer: a retry asks again (and gets the ledger's recorded reply).
        else refused.push({ key: row.key_id, idem: row.idempotency_key });
      }
      if (reply.status === "ACCEPTED" && row.operation === "redeem")
        redeemed.push({
          redemption_id: row.command_id,
          member_id: row.member_id,
          entry_id: reply.entryId,
          points: -(reply.points ?? 0),
          order_id: row.request.orderId ?? null,
          event_time: iso(reply.appliedAt),
          key_id: row.key_id,
        });
      if (reply.status === "ACCEPTED" && row.operation === "cancel")
        cancelled.push({
          redemption_id: row.request.redemptionId,
          entry_id: reply.entryId,
          at: iso(reply.appliedAt),
        });
      if (wanted(row.command_id)) out.set(row.command_id, a);
    }
    if (settled.length > 0)
      await c.query(
        `update api_ledger_commands l set http_status = x.status, response = x.body, replied_at = now()
           from jsonb_to_recordset($1::jsonb) as x(id text, status int, body jsonb) where l.command_id = x.id`,
        [JSON.stringify(settled.map((x) => ({ id: x.id, status: x.a.status, body: x.a.body })))],
      );
    if (finals.length > 0)
      await c.query(
        `update api_requests r set status_code = x.status, response = x.body
           from jsonb_to_recordset($1::jsonb) as x(key text, idem text, status int, body jsonb)
          where r.key_id = x.key and r.idempotency_key = x.idem`,
        [
          JSON.stringify(
            finals.map((x) => ({ key: x.key, idem: x.idem, status: x.a.status, body: x.a.body })),
          ),
        ],
      );
    if (refused.length > 0)
      await c.query(
        `delete from api_requests r using unnest($1::text[], $2::text[]) as x(key, idem)
          where r.key_id = x.key and r.idempotency_key = x.idem and r.status_code = 202`,
        [refused.map((x) => x.key), refused.map((x) => x.idem)],
      );
    if (redeemed.length > 0)
      await c.query(
        `insert into api_redemptions (redemption_id, member_id, entry_id, points, order_id, event_time, key_id)
         select * from jsonb_to_recordset($1::jsonb)
           as x(redemption_id text, member_id text, entry_id text, points bigint, order_id text,
                event_time timestamptz, key_id text)
         on conflict do nothing`,
        [JSON.stringify(redeemed)],
      );
    if (cancelled.length > 0)
      await c.query(
        `update api_redemptions r set cancel_entry_id = coalesce(r.cancel_entry_id, x.entry_id),
                cancelled_at = coalesce(r.cancelled_at, x.at)
           from jsonb_to_recordset($1::jsonb) as x(redemption_id text, entry_id text, at timestamptz)
          where r.redemption_id = x.redemption_id`,
        [JSON.stringify(cancelled)],
      );
  });
  return out;
}

/**
 * Commands sent within `withinMs` that have no answer yet (an instance stopped before their reply,
 * which its successor, reading from the end of the replies topic, will not see): sent again at
 * start, the engine answers a command id it applied with its recorded reply.
 */
export async function pendingCommands(pool: Pool, withinMs: number): Promise<LedgerCommand[]> {
  const r = await pool.query<{ command: LedgerCommand | null }>(
    `select request -> 'command' as command from api_ledger_commands
      where replied_at is null and created_at > now() - make_interval(secs => $1::double precision / 1000)
      order by created_at`,
    [withinMs],
  );
  return r.rows.flatMap((x) => (x.command ? [x.command] : []));
}

/** Waits until the API's read model of loyalty.points.v1 holds an entry (src/points-read-model.ts). */
export interface EntryWaiter {
  waitFor(entryId: string, timeoutMs: number): Promise<boolean>;
}

export interface LedgerDeps {
  pool: Pool;
  ledger: LedgerGateway;
  /** LEDGER_REPLY_TIMEOUT_MS: how long a request waits for the engine's reply before 202. */
  replyTimeoutMs: number;
  /**
   * Read-your-writes: an accepted command's answer waits until the read model has applied its
   * entry, for what is left of replyTimeoutMs. Unset: answered at once.
   */
  applied?: EntryWaiter;
  logger?: Pick<Logger, "warn">;
}

/** The error of an answer >= 400, as thrown to the error handler. */
function thrown(a: Answer): ApiError {
  const e = (a.body as ErrorBody).error;
  return new ApiError(e.code, e.message, e.field);
}

/** The command's row as recorded: its stored answer, if the engine's reply came before. */
interface RecordedCommand {
  http_status: number | null;
  response: unknown;
}

/**
 * Records the command (once: its id is derived from the request), sends it and waits. An answer
 * stored already (the reply came before) is given without sending again; otherwise the command
 * is sent, again if it was before: the engine applies a command id once and answers a duplicate
 * with its recorded reply.
 */
async function command<T>(
  deps: LedgerDeps,
  op: Operation,
  cmd: LedgerCommand,
  request: CommandRequest,
  keyId: string,
  idempotencyKey: string | null,
  replayed: boolean,
): Promise<Stored<T | PendingResult>> {
  const started = Date.now();
  const r = await deps.pool.query<RecordedCommand>(
    `insert into api_ledger_commands (command_id, key_id, idempotency_key, member_id, operation, request)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (command_id) do update set command_id = excluded.command_id
     returning http_status, response`,
    [cmd.commandId, keyId, idempotencyKey, cmd.memberId, op, JSON.stringify({ ...request, command: cmd })],
  );
  return answered<T>(deps, cmd, r.rows[0], started, keyId, idempotencyKey, replayed);
}

/** Sends a recorded command unless its answer is stored, waits for the answer and gives it. */
async function answered<T>(
  deps: LedgerDeps,
  cmd: LedgerCommand,
  row: RecordedCommand | undefined,
  started: number,
  keyId: string,
  idempotencyKey: string | null,
  replayed: boolean,
): Promise<Stored<T | PendingResult>> {
  let a: Answer | null =
    row && row.http_status !== null ? { status: row.http_status, body: row.response } : null;
  const known = a !== null;
  a ??= await deps.ledger.request(cmd, deps.replyTimeoutMs);
  if (a === null) return { status: 202, body: pendingOf(cmd.commandId), replayed };
  const entryId = a.status < 300 ? (a.body as { entryId?: unknown }).entryId : undefined;
  if (deps.applied && typeof entryId === "string" && entryId.length > 0) {
    // Read-your-writes: the next balance read (any instance: one database) shows this entry.
    const seen = await deps.applied.waitFor(
      entryId,
      Math.max(0, deps.replyTimeoutMs - (Date.now() - started)),
    );
    if (!seen)
      deps.logger?.warn(
        { commandId: cmd.commandId, entryId },
        "ledger command answered before the points read model applied its entry",
      );
  }
  if (a.status >= 400) {
    if (idempotencyKey !== null)
      await deps.pool.query(
        "delete from api_requests where key_id = $1 and idempotency_key = $2 and status_code = 202",
        [keyId, idempotencyKey],
      );
    throw thrown(a);
  }
  return { status: a.status, body: a.body as T, replayed: replayed || known };
}

/**
 * An Idempotency-Key's request, looked up and recorded in one statement: one round trip and one
 * commit, where there were four statements (the key's stored answer, the member's closed flag,
 * the key's pending answer, the command). Its columns:
 * - prior_*: the key's stored answer, if any; then nothing is recorded but, for a pending answer
 *   to the same request, the command;
 * - closed: no stored answer, `$9` asked for the check, and the member is closed (nothing recorded);
 * - recorded: the key's pending answer was recorded now; false with no stored answer when a
 *   concurrent first attempt with the same key won (its answer is read on the next attempt);
 * - http_status, response: the command's row, recorded now or before, as `command` returns it.
 */
const FIRST_ATTEMPT = `
  with prior as (
    select request_hash, status_code, response from api_requests
     where key_id = $1 and idempotency_key = $2
  ), closed as (
    select 1 from api_member_status
     where $9::boolean and member_id = $4 and status = 'closed' and not exists (select 1 from prior)
  ), req as (
    insert into api_requests (key_id, idempotency_key, operation, request_hash, status_code, response)
    select $1, $2, $5, $7, 202, $8::jsonb
     where not exists (select 1 from prior) and not exists (select 1 from closed)
    on conflict do nothing
    returning 1
  ), cmd as (
    insert into api_ledger_commands (command_id, key_id, idempotency_key, member_id, operation, request)
    select $3, $1, $2, $4, $5, $6::jsonb
     where exists (select 1 from req)
        or exists (select 1 from prior where request_hash = $7 and status_code = 202)
    on conflict (command_id) do update set command_id = excluded.command_id
    returning http_status, response
  )
  select p.request_hash as prior_hash, p.status_code as prior_status, p.response as prior_response,
         exists (select 1 from closed) as closed, exists (select 1 from req) as recorded,
         c.http_status, c.response
    from (select 1) as one left join prior p on true left join cmd c on true`;

interface FirstAttempt extends RecordedCommand {
  prior_hash: string | null;
  prior_status: number | null;
  prior_response: unknown;
  closed: boolean;
  recorded: boolean;
}

/**
 * Idempotency-Key first: a finished answer is replayed; a pending one is asked for again. With
 * `checkOpen`, a closed member (the API's own record) may not make a first attempt.
 */
async function idempotent<T>(
  deps: LedgerDeps,
  op: Operation,
  cmd: LedgerCommand,
  request: CommandRequest,
  keyId: string,
  idempotencyKey: string,
  hash: string,
  checkOpen = false,
): Promise<Stored<T | PendingResult>> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const r = await deps.pool.query<FirstAttempt>(FIRST_ATTEMPT, [
      keyId,
      idempotencyKey,
      cmd.commandId,
      cmd.memberId,
      op,
      JSON.stringify({ ...request, command: cmd }),
      hash,
      JSON.stringify(pendingOf(cmd.commandId)),
      checkOpen && attempt === 0,
    ]);
    const row = r.rows[0];
    if (row === undefined) throw new TypeError("the first-attempt statement returned no row");
    if (row.prior_status !== null) {
      if (row.prior_hash !== hash)
        throw new ApiError(
          "IDEMPOTENCY_KEY_REUSED",
          "this Idempotency-Key was used with a different request",
          "headers.idempotency-key",
        );
      if (row.prior_status !== 202)
        return { status: row.prior_status, body: row.prior_response as T, replayed: true };
      return answered<T>(deps, cmd, row, started, keyId, idempotencyKey, true);
    }
    if (row.closed)
      throw new ApiError("MEMBER_CLOSED", `member ${cmd.memberId} is closed`, "params.memberId");
    if (row.recorded) return answered<T>(deps, cmd, row, started, keyId, idempotencyKey, false);
    // A concurrent first attempt with the same key won: read its answer (or 409) again. If its
    // row is gone meanwhile (a refusal deletes it), the command is recorded without one, as before.
    if (attempt > 0) return command<T>(deps, op, cmd, request, keyId, idempotencyKey, false);
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

export async function redeem(
  deps: LedgerDeps,
  req: RedeemRequest,
  now: number,
): Promise<Stored<RedemptionResult | PendingResult>> {
  const hash = requestHash({
    op: "redeem",
    memberId: req.memberId,
    points: req.points,
    orderId: req.orderId,
    reason: req.reason,
  });
  const commandId = redemptionIdOf(req.keyId, req.idempotencyKey);
  const cmd: LedgerCommand = {
    commandId,
    memberId: req.memberId,
    type: "REDEEM",
    points: req.points,
    redemptionId: null,
    orderId: req.orderId,
    reason: req.reason,
    expiresAt: null,
    requestedBy: req.keyId,
    requestedAt: now,
  };
  return idempotent(deps, "redeem", cmd, { orderId: req.orderId }, req.keyId, req.idempotencyKey, hash, true);
}

/**
 * Who asks for a cancellation: the key id and whether that key is an admin key. Only the key that
 * made the redemption (api_redemptions, written when the engine accepted it), or an admin key,
 * may cancel it.
 */
export interface CancelRequest {
  memberId: string;
  redemptionId: string;
  reason: string | null;
  keyId: string;
  admin: boolean;
}

export async function cancelRedemption(
  deps: LedgerDeps,
  req: CancelRequest,
  now: number,
): Promise<Stored<RedemptionResult | PendingResult>> {
  const r = await deps.pool.query<{ key_id: string | null; order_id: string | null }>(
    "select key_id, order_id from api_redemptions where redemption_id = $1 and member_id = $2",
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
  const cmd: LedgerCommand = {
    // One cancellation command per key and redemption: the same key asking again is a duplicate.
    commandId: stableId("cnl", [req.keyId, req.redemptionId]),
    memberId: req.memberId,
    type: "CANCEL_REDEMPTION",
    points: 0,
    redemptionId: req.redemptionId,
    orderId: null,
    reason: req.reason,
    expiresAt: null,
    requestedBy: req.keyId,
    requestedAt: now,
  };
  return command<RedemptionResult>(
    deps,
    "cancel",
    cmd,
    { redemptionId: req.redemptionId, orderId: red.order_id },
    req.keyId,
    null,
    false,
  );
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
 * redemption, never below zero. The engine decides both (engine/commands.ts).
 */
export async function adjust(
  deps: LedgerDeps,
  req: AdjustRequest,
  now: number,
): Promise<Stored<AdjustmentResult | PendingResult>> {
  const hash = requestHash({
    op: "adjust",
    memberId: req.memberId,
    points: req.points,
    reason: req.reason,
    expiresAt: req.expiresAt,
  });
  const cmd: LedgerCommand = {
    commandId: adjustmentIdOf(req.keyId, req.idempotencyKey),
    memberId: req.memberId,
    type: "ADJUST",
    points: req.points,
    redemptionId: null,
    orderId: null,
    reason: req.reason,
    expiresAt: req.points > 0 ? req.expiresAt : null,
    requestedBy: req.keyId,
    requestedAt: now,
  };
  return idempotent(deps, "adjust", cmd, { reason: req.reason }, req.keyId, req.idempotencyKey, hash);
}

/** A command's state for its status URL: only the key that sent it, or an admin key, sees it. */
export async function commandStatus(
  pool: Pool,
  commandId: string,
  by: { keyId: string; admin: boolean },
): Promise<{ commandId: string; status: "pending" | "done"; httpStatus: number | null; result: unknown }> {
  const r = await pool.query<{ key_id: string; http_status: number | null; response: unknown }>(
    "select key_id, http_status, response from api_ledger_commands where command_id = $1",
    [commandId],
  );
  const row = r.rows[0];
  if (!row || (!by.admin && row.key_id !== by.keyId))
    throw new ApiError("NOT_FOUND", `no ledger command ${commandId}`, "params.commandId");
  return row.http_status === null
    ? { commandId, status: "pending", httpStatus: null, result: null }
    : { commandId, status: "done", httpStatus: row.http_status, result: row.response };
}

/** A member exists once one of the API's read models has a row for them (an entry, a tier change or an alert). */
export async function memberState(db: Db, memberId: string): Promise<"unknown" | "open" | "closed"> {
  const r = await db.query<{ known: boolean; closed: boolean }>(
    `select (exists (select 1 from api_points_balances where member_id = $1)
             or exists (select 1 from api_tier_changes where member_id = $1)
             or exists (select 1 from api_churn_alerts where member_id = $1)) as known,
            exists (select 1 from api_member_status where member_id = $1 and status = 'closed') as closed`,
    [memberId],
  );
  const row = r.rows[0];
  if (!row?.known) return "unknown";
  return row.closed ? "closed" : "open";
}

/** Closes a member: redemptions are refused from then on. */
export async function closeMember(pool: Pool, memberId: string, reason: string): Promise<void> {
  if ((await memberState(pool, memberId)) === "unknown")
    throw new ApiError("MEMBER_NOT_FOUND", `member ${memberId} is not known`, "params.memberId");
  await pool.query(
    `insert into api_member_status (member_id, status, reason) values ($1, 'closed', $2)
     on conflict (member_id) do nothing`,
    [memberId, reason],
  );
}

// The API's read model of loyalty.points.v1 (ADR 16 step 3): balances, open lots with their expiry
// and the history with rule id and version, from the rules engine's records, so the API never
// reads the engine's ledger tables. One consumer in the API's own group (`<SERVICE_NAME>.points`),
// from the beginning, as the tiers and churn read models (src/read-models.ts): decode, one
// transaction per batch with one set-based statement per table (store/points.ts, idempotent by
// the entry id), then the runner commits the offsets. In event mode its runner also moves the
// API's clock (the records' event times; see src/now.ts): it replaces the old clock consumer.
//
// Read-your-writes: a redemption, cancellation or adjustment answered by the engine waits until
// this read model has applied the reply's entry (AppliedEntries.waitFor, bounded by the reply
// timeout), so the next balance read shows it.
import type { PointsMovement } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import type { ConsumedMessage, Logger } from "@loyalty/stream-runtime";
import { type Out, decodeValue, epochMs } from "./read-models.ts";
import type { Decoder } from "./rules-read-model.ts";
import type { Db } from "./store/db.ts";
import { transaction } from "./store/db.ts";
import { type EntryKind, type PointsEntryRow, entryApplied, storePoints } from "./store/points.ts";

type Position = Pick<ConsumedMessage, "partition" | "offset">;

const KINDS: Readonly<Record<string, EntryKind>> = {
  EARNED: "earn",
  REVERSED: "reverse",
  REDEEMED: "redeem",
  EXPIRED: "expire",
  ADJUSTED: "adjust",
};

const int = (v: unknown): number | null => {
  const n = typeof v === "bigint" ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) ? n : null;
};

/** Pure: a decoded PointsMovement → its api_points_entries row (with its lots), or why not. */
export function pointsEntryRow(m: Position, p: PointsMovement): Out<PointsEntryRow> {
  const kind = KINDS[String(p.kind)];
  const eventTime = epochMs(p.eventTime);
  const points = int(p.points);
  const balanceAfter = int(p.balanceAfter);
  if (!p.eventId || !p.memberId || kind === undefined)
    return { ok: false, reason: "points record without eventId, memberId or a known kind" };
  if (eventTime === null || points === null || balanceAfter === null)
    return { ok: false, reason: `points record ${p.eventId}: eventTime, points or balanceAfter` };
  const lots: PointsEntryRow["lots"] = [];
  for (const l of p.lots ?? []) {
    const n = int(l.points);
    if (!l.lotId || n === null)
      return { ok: false, reason: `points record ${p.eventId}: a lot without id or points` };
    lots.push({ lotId: l.lotId, points: n, expiresAt: l.expiresAt === null ? null : epochMs(l.expiresAt) });
  }
  // A record from before `lots` (ADR 16 step 3, "older records"): an earn or a positive
  // adjustment with an expiry opened its own lot (lot id = entry id); what a redemption, an expiry
  // or a negative adjustment took is unknown (the engine names lots on every such record now, so
  // an empty list there means an older record). Clawbacks beyond the lots and adjustments that
  // only pay off debt take no lot: their debt is known.
  const lotExpiresAt = p.lotExpiresAt === null ? null : epochMs(p.lotExpiresAt);
  if (lots.length === 0 && points > 0 && lotExpiresAt !== null && (kind === "earn" || kind === "adjust"))
    lots.push({ lotId: p.eventId, points, expiresAt: lotExpiresAt });
  const lotsKnown = !(
    lots.length === 0 &&
    points < 0 &&
    (kind === "redeem" || kind === "expire" || kind === "adjust")
  );
  return {
    ok: true,
    row: {
      entryId: p.eventId,
      memberId: p.memberId,
      kind,
      points,
      balanceAfter,
      ruleId: p.ruleId,
      ruleVersion: p.ruleVersion,
      ruleSetId: p.ruleSetId ?? null,
      ruleSetVersion: p.ruleSetVersion,
      reason: p.reason,
      sourceEventId: p.sourceEventId,
      orderId: p.orderId,
      eventTime,
      lots,
      lotsKnown,
      partition: m.partition,
      offset: m.offset,
    },
  };
}

/**
 * Entries applied by this instance's read model wake the requests waiting for them at once,
 * without a query (the last RECENT entry ids are kept); another instance's (the group splits
 * partitions between instances) are seen by asking the database every `pollMs`.
 */
export class AppliedEntries {
  static readonly RECENT = 10_000;
  private readonly waiting = new Set<() => void>();
  private readonly recent = new Set<string>();
  constructor(
    private readonly db: Db,
    private readonly pollMs = 50,
  ) {}

  /** Called with the entry ids a batch stored, after its transaction has committed. */
  applied(entryIds: readonly string[]): void {
    for (const id of entryIds) this.recent.add(id);
    // Oldest first out (a Set iterates in insertion order).
    for (const id of this.recent) {
      if (this.recent.size <= AppliedEntries.RECENT) break;
      this.recent.delete(id);
    }
    for (const wake of [...this.waiting]) wake();
  }

  /** True once the read model holds `entryId`; false when `timeoutMs` passes first. */
  async waitFor(entryId: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.recent.has(entryId)) return true;
      const left = deadline - Date.now();
      if (left <= 0) return entryApplied(this.db, entryId);
      const woken = await new Promise<boolean>((resolve) => {
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), Math.min(left, this.pollMs));
        const done = (byApply: boolean) => {
          clearTimeout(timer);
          this.waiting.delete(wake);
          resolve(byApply);
        };
        this.waiting.add(wake);
      });
      if (!woken && (await entryApplied(this.db, entryId))) return true;
    }
  }
}

/** The batch handler of the loyalty.points.v1 consumer. */
export function pointsReadModelHandler(pool: Pool, codec: Decoder, logger: Logger, applied?: AppliedEntries) {
  return async (messages: ConsumedMessage[]): Promise<void> => {
    const rows: PointsEntryRow[] = [];
    for (const m of messages) {
      const d = await decodeValue<PointsMovement>(codec, m.value);
      if (d === null) continue;
      const out: Out<PointsEntryRow> = d.ok ? pointsEntryRow(m, d.value) : d;
      if (out.ok) rows.push(out.row);
      else if ("reason" in out)
        logger.warn(
          { partition: m.partition, offset: m.offset, reason: out.reason },
          "points read model: record skipped",
        );
    }
    if (rows.length === 0) return;
    const stored = await transaction(pool, (c) => storePoints(c, rows));
    // Entries read again (stored before) count as applied too: a waiter may be asking for one.
    applied?.applied(rows.map((r) => r.entryId));
    if (stored.length > 0)
      logger.debug({ stored: stored.length, read: messages.length }, "points read model: entries stored");
  };
}

// The API's read models of loyalty.tiers.v1 and loyalty.churn-alerts.v1 (ADR 16 step 5, ADR 18):
// the member card and the dashboard show tiers and churn alerts from API-owned tables, so the API
// never reads the tier evaluator's or churn-alert's tables. Each topic has its consumer in the
// API's own group (`<SERVICE_NAME>.tiers`, `<SERVICE_NAME>.churn-alerts`), reading from the
// beginning, as the rules read model does (src/rules-read-model.ts): decode, one set-based insert
// per batch (store/read-models.ts, idempotent by event id), then the runner commits the offsets.
// The runners read the API's clock but never feed it: these records' times are other services'
// event times and must not move the API's "now".
//
// Frontier markers on loyalty.churn-alerts.v1 (no value, header loyalty-frontier) are skipped
// without a word; a record that cannot be decoded is skipped with a warning (its producer's
// consumers dead-letter it); a registry that does not answer is retried (TransientError).
import type { ChurnAlert, TierChanged } from "@loyalty/contracts";
import { isRegistryFramed } from "@loyalty/contracts";
import {
  type ConsumedMessage,
  ConsumerRunner,
  type Logger,
  type ServiceKit,
  type StreamClock,
  TransientError,
  groupIdFor,
} from "@loyalty/stream-runtime";
import type { Decoder } from "./rules-read-model.ts";
import type { Db } from "./store/db.ts";
import {
  type ChurnAlertRow,
  type TierChangeRow,
  storeChurnAlerts,
  storeTierChanges,
} from "./store/read-models.ts";

type Position = Pick<ConsumedMessage, "partition" | "offset">;
export type Out<R> = { ok: true; row: R } | { ok: false; reason: string } | { ok: false; skip: true };

/** Avro timestamp-millis as epoch ms (the codec may give a number, a bigint or a Date). */
export function epochMs(v: unknown): number | null {
  const n = v instanceof Date ? v.getTime() : typeof v === "bigint" ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) ? n : null;
}

const nonEmpty = (s: unknown): s is string => typeof s === "string" && s.length > 0;

/** Pure: a decoded TierChanged → its api_tier_changes row, or why not. */
export function tierChangeRow(m: Position, t: TierChanged): Out<TierChangeRow> {
  const effectiveAt = epochMs(t.effectiveAt);
  if (!nonEmpty(t.eventId) || !nonEmpty(t.memberId) || !nonEmpty(t.toTier) || typeof t.fromTier !== "string")
    return { ok: false, reason: "tier change without eventId, memberId or tiers" };
  if (effectiveAt === null)
    return { ok: false, reason: `tier change ${t.eventId}: effectiveAt is not a timestamp` };
  return {
    ok: true,
    row: {
      eventId: t.eventId,
      memberId: t.memberId,
      fromTier: t.fromTier,
      toTier: t.toTier,
      direction: String(t.direction),
      reason: String(t.reason),
      effectiveAt,
      partition: m.partition,
      offset: m.offset,
    },
  };
}

/** Pure: a decoded ChurnAlert → its api_churn_alerts row, or why not. */
export function churnAlertRow(m: Position, a: ChurnAlert): Out<ChurnAlertRow> {
  const eventTime = epochMs(a.eventTime);
  if (!nonEmpty(a.eventId) || !nonEmpty(a.memberId))
    return { ok: false, reason: "alert without eventId or memberId" };
  if (eventTime === null) return { ok: false, reason: `alert ${a.eventId}: eventTime is not a timestamp` };
  if (!Number.isFinite(a.pAlive)) return { ok: false, reason: `alert ${a.eventId}: pAlive is not a number` };
  const value =
    typeof a.expectedValueMinor === "bigint" ? Number(a.expectedValueMinor) : a.expectedValueMinor;
  if (!Number.isSafeInteger(value)) return { ok: false, reason: `alert ${a.eventId}: expectedValueMinor` };
  return {
    ok: true,
    row: {
      eventId: a.eventId,
      memberId: a.memberId,
      eventTime,
      pAlive: a.pAlive,
      expectedValueMinor: value,
      currency: a.currency,
      segment: a.segment,
      actionLevel: a.actionLevel,
      modelVersion: a.modelVersion,
      partition: m.partition,
      offset: m.offset,
    },
  };
}

/** Decodes one record: null for a value-less record (a frontier marker), else the value or why not. */
export async function decodeValue<T>(
  codec: Decoder,
  value: Buffer | null,
): Promise<{ ok: true; value: T } | { ok: false; reason: string } | null> {
  if (value === null || value.length === 0) return null;
  if (!isRegistryFramed(value)) return { ok: false, reason: "not registry-framed Avro" };
  try {
    return { ok: true, value: await codec.decode<T>(value) };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const status = (err as { status?: unknown }).status;
    if (status !== 404 && !/not found/i.test(text))
      if (typeof status === "number" || /ECONN|ETIMEDOUT|EAI_AGAIN|socket|network|fetch failed/i.test(text))
        throw new TransientError(`schema registry unavailable: ${text}`, err);
    return { ok: false, reason: text };
  }
}

function handler<T, R>(
  name: string,
  codec: Decoder,
  logger: Logger,
  toRow: (m: Position, v: T) => Out<R>,
  store: (rows: readonly R[]) => Promise<number>,
) {
  return async (messages: ConsumedMessage[]): Promise<void> => {
    const rows: R[] = [];
    for (const m of messages) {
      const d = await decodeValue<T>(codec, m.value);
      if (d === null) continue;
      const out: Out<R> = d.ok ? toRow(m, d.value) : d;
      if (out.ok) rows.push(out.row);
      else if ("reason" in out)
        logger.warn(
          { partition: m.partition, offset: m.offset, reason: out.reason },
          `${name} read model: record skipped`,
        );
    }
    const stored = await store(rows);
    if (stored > 0) logger.info({ stored, read: messages.length }, `${name} read model: rows stored`);
  };
}

/** The batch handler of the loyalty.tiers.v1 consumer. */
export function tiersReadModelHandler(db: Db, codec: Decoder, logger: Logger) {
  return handler<TierChanged, TierChangeRow>("tiers", codec, logger, tierChangeRow, (rows) =>
    storeTierChanges(db, rows),
  );
}

/** The batch handler of the loyalty.churn-alerts.v1 consumer. */
export function churnAlertsReadModelHandler(db: Db, codec: Decoder, logger: Logger) {
  return handler<ChurnAlert, ChurnAlertRow>("churn alerts", codec, logger, churnAlertRow, (rows) =>
    storeChurnAlerts(db, rows),
  );
}

/**
 * The commit interval of the read models no request waits for (tiers, churn alerts, dashboard):
 * COMMIT_INTERVAL_MS when set, else 250 ms (ADR 16). The points read model, which a redemption's
 * answer waits for, keeps the runtime's 0.
 */
export function offPathCommitIntervalMs(config: { COMMIT_INTERVAL_MS?: number | undefined }): number {
  return config.COMMIT_INTERVAL_MS ?? 250;
}

/**
 * The two read-model consumers, each in its own group (`<SERVICE_NAME>.tiers`,
 * `<SERVICE_NAME>.churn-alerts`), from the beginning. `clock` must be one the runners read but
 * never feed (no observe/assign), as for the rules read model: main.ts passes the same one.
 */
export function readModelRunners(kit: ServiceKit, clock: StreamClock): ConsumerRunner[] {
  const { config, logger, pool } = kit;
  const base = {
    service: config.SERVICE_NAME,
    kafka: kit.kafka,
    producer: kit.producer,
    dlq: kit.dlq,
    logger,
    metrics: kit.metrics,
    clock,
    sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
    fromBeginning: true,
    // Every partition of a fetch in one transaction and one offset commit (rows keyed by record).
    gather: true,
    // Off the path of a request: fewer, larger transactions (ADR 16).
    commitIntervalMs: offPathCommitIntervalMs(config),
  };
  const group = (s: string) => groupIdFor(config, `${config.SERVICE_NAME}.${s}`);
  return [
    new ConsumerRunner({
      ...base,
      groupId: group("tiers"),
      topics: [kit.topics.tiers.name],
      handler: tiersReadModelHandler(pool, kit.codec, logger),
    }),
    new ConsumerRunner({
      ...base,
      groupId: group("churn-alerts"),
      topics: [kit.topics.churnAlerts.name],
      handler: churnAlertsReadModelHandler(pool, kit.codec, logger),
    }),
  ];
}

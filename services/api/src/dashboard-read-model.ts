// The dashboard's read model (ADR 18, issue 23 item 5): one consumer in the API's own group
// `<SERVICE_NAME>.dashboard` reads loyalty.points.v1, loyalty.tiers.v1 and loyalty.churn-alerts.v1
// from the beginning and keeps the figures the console charts in API-owned tables (migration 510):
// points per day, kind and rule; each member's newest points-earning purchase; the churn fits
// alerts name; the metric, value and threshold of every tier change. Per batch: decode, decide
// each record's facts (pure, src/dashboard-figures.ts), then one transaction that skips records
// already applied (the stored next offset per partition) and writes the rest; the runner commits
// the offsets after it. The runner reads the API's clock but never feeds it, like the other read
// models: these records' times must not move the API's "now".
import type { ChurnAlert, PointsMovement, TierChanged } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import {
  type ConsumedMessage,
  ConsumerRunner,
  type Logger,
  type ServiceKit,
  type StreamClock,
  groupIdFor,
} from "@loyalty/stream-runtime";
import { type Facts, alertFacts, pointsFacts, tierFacts } from "./dashboard-figures.ts";
import { decodeValue, offPathCommitIntervalMs } from "./read-models.ts";
import type { Decoder } from "./rules-read-model.ts";
import { type PartitionBatch, applyDashboardBatch } from "./store/dashboard.ts";
import { transaction } from "./store/db.ts";

export interface DashboardTopics {
  points: string;
  tiers: string;
  churnAlerts: string;
}

/** The batch handler: decode, decide, apply in one transaction (store/dashboard.ts). */
export function dashboardReadModelHandler(
  pool: Pool,
  codec: Decoder,
  logger: Logger,
  topics: DashboardTopics,
) {
  return async (messages: ConsumedMessage[]): Promise<void> => {
    const parts = new Map<string, PartitionBatch>();
    for (const m of messages) {
      const key = `${m.topic}\u0000${m.partition}`;
      const part = parts.get(key) ?? { topic: m.topic, partition: m.partition, records: [] };
      parts.set(key, part);
      let out: Facts | null = null;
      if (m.topic === topics.points) {
        const d = await decodeValue<PointsMovement>(codec, m.value);
        out = d === null ? null : d.ok ? pointsFacts(d.value) : d;
      } else if (m.topic === topics.churnAlerts) {
        const d = await decodeValue<ChurnAlert>(codec, m.value);
        out = d === null ? null : d.ok ? alertFacts(d.value) : d;
      } else if (m.topic === topics.tiers) {
        const d = await decodeValue<TierChanged>(codec, m.value);
        out = d === null ? null : d.ok ? tierFacts(d.value, m.offset) : d;
      }
      if (out !== null && !out.ok)
        logger.warn(
          { topic: m.topic, partition: m.partition, offset: m.offset, reason: out.reason },
          "dashboard read model: record skipped",
        );
      part.records.push({ offset: m.offset, facts: out?.ok ? out.facts : [] });
    }
    const applied = await transaction(pool, (c) => applyDashboardBatch(c, [...parts.values()]));
    if (applied > 0)
      logger.debug({ applied, read: messages.length }, "dashboard read model: records applied");
  };
}

/** The consumer, in its own group, from the beginning; `clock` is read, never fed (see main.ts). */
export function dashboardRunner(kit: ServiceKit, clock: StreamClock): ConsumerRunner {
  const { config, logger, pool } = kit;
  const topics = {
    points: kit.topics.points.name,
    tiers: kit.topics.tiers.name,
    churnAlerts: kit.topics.churnAlerts.name,
  };
  return new ConsumerRunner({
    service: config.SERVICE_NAME,
    kafka: kit.kafka,
    producer: kit.producer,
    dlq: kit.dlq,
    logger,
    metrics: kit.metrics,
    clock,
    sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
    maxBatch: config.CONSUMER_MAX_BATCH,
    fromBeginning: true,
    // Every partition of a fetch in one transaction and one offset commit (next offsets per
    // partition are stored with the batch).
    gather: true,
    // Off the path of a request: fewer, larger transactions (ADR 16).
    commitIntervalMs: offPathCommitIntervalMs(config),
    groupId: groupIdFor(config, `${config.SERVICE_NAME}.dashboard`),
    topics: [topics.points, topics.tiers, topics.churnAlerts],
    handler: dashboardReadModelHandler(pool, kit.codec, logger, topics),
  });
}

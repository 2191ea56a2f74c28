// Integration-test support: canonical events built with the ingestor's domain (not its
// service), published Avro-encoded the way the ingestor publishes them, and the tier
// evaluator run as a child process.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AvroCodec,
  type PointsMovement,
  type PurchaseEvent,
  type TierChanged,
  type Topics,
  namespacedTopics,
} from "@loyalty/contracts";
import { type Pool, createPool, migrate } from "@loyalty/db";
import { compileFx, normaliseOrder, parseText, validateOrder } from "@loyalty/ingestor";
import { createKafka, createLogger, ensureTopics } from "@loyalty/stream-runtime";
import { type RunningService, type TestStack, serviceEnv, spawnService } from "@loyalty/testkit";
import { testNamespace } from "@loyalty/testkit";
import {
  type TierChange,
  type TierState,
  advanceTo,
  apply,
  defaultTierConfig,
  initialState,
} from "@loyalty/tiers";
import { CompressionTypes, type Kafka, type KafkaMessage } from "kafkajs";
import { toTierChanged } from "../src/domain/output.ts";

export const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

import { datasetFile } from "@loyalty/datasets";
export { datasetFile };

/** CDNOW_master.txt as canonical purchases (USD base, member id = customer id), in event-time order. */
export function cdnowPurchases(): PurchaseEvent[] {
  const fx = compileFx({ baseCurrency: "USD", rates: [] });
  const out: PurchaseEvent[] = [];
  for (const r of parseText(readFileSync(datasetFile("cdnow", "CDNOW_master.txt"), "utf8"))) {
    if (r.kind !== "order") throw new Error(`CDNOW line ${r.lineNumber} did not parse`);
    const v = validateOrder(r.order);
    if (!v.ok) throw new Error(`CDNOW line ${r.lineNumber}: ${v.reason}`);
    const p = normaliseOrder(v.value, { memberId: v.value.customerId, fx });
    if (!p.ok) throw new Error(`CDNOW line ${r.lineNumber}: ${p.reason}`);
    out.push(p.value);
  }
  // The file is sorted by customer; living through it means receiving it in time order
  // (a stable sort keeps the file's order within an instant).
  return out
    .map((e, i) => [e, i] as const)
    .sort((a, b) => a[0].eventTime - b[0].eventTime || a[1] - b[1])
    .map(([e]) => e);
}

export function purchase(
  memberId: string,
  orderId: string,
  eventTime: number,
  amount: number,
  type: PurchaseEvent["type"] = "PURCHASE",
  id = `${type}-${orderId}-${eventTime}`,
): PurchaseEvent {
  return {
    eventId: id,
    type,
    memberId,
    source: "test",
    orderId,
    eventTime,
    amountMinor: amount,
    currency: "USD",
    baseAmountMinor: amount,
    baseCurrency: "USD",
    fxRate: "1",
    lines: [],
    channel: null,
    storeId: null,
    refundId: type === "REFUND" ? `r-${eventTime}` : null,
    refundedLineIds: [],
  };
}

export function points(
  memberId: string,
  kind: PointsMovement["kind"],
  pts: number,
  eventTime: number,
  orderId: string | null,
  id: string,
): PointsMovement {
  return {
    eventId: id,
    memberId,
    kind,
    points: pts,
    balanceAfter: 0,
    ruleId: null,
    ruleVersion: null,
    ruleSetVersion: null,
    sourceEventId: id,
    orderId,
    reason: null,
    eventTime,
    lotExpiresAt: null,
    ruleSetId: null,
    lots: [],
  };
}

export class Engine {
  readonly topics: Topics;
  readonly kafka: Kafka;
  readonly codec: AvroCodec;
  readonly pool: Pool;

  private constructor(
    readonly stack: TestStack,
    readonly ns: string,
    readonly partitions: number,
  ) {
    this.topics = namespacedTopics(ns);
    this.kafka = createKafka({
      clientId: `tier-test-${ns}`,
      brokers: stack.kafkaBrokers,
      logger: createLogger("tier-test", "error"),
      level: "error",
    });
    this.codec = new AvroCodec(stack.schemaRegistryUrl);
    this.pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  }

  /** Topics, schemas and tables of a fresh namespace, before the service ever starts. */
  static async create(stack: TestStack, ns: string, partitions = 3): Promise<Engine> {
    const e = new Engine(stack, ns, partitions);
    await migrate(stack.databaseUrl, undefined, ns);
    const admin = e.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, { partitions, replication: 1, topics: Object.values(e.topics) });
    } finally {
      await admin.disconnect();
    }
    await e.codec.registerAll(Object.values(e.topics));
    return e;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  start(extra: Record<string, string> = {}): Promise<RunningService> {
    return spawnService(
      MAIN,
      serviceEnv(this.stack, this.ns, {
        SERVICE_NAME: "tier-evaluator",
        LOYALTY_PARTITIONS: String(this.partitions),
        ...extra,
      }),
    );
  }

  async publishPurchases(events: readonly PurchaseEvent[], batch = 4000): Promise<void> {
    await this.publish(this.topics.purchases, events, batch);
  }

  async publishPoints(events: readonly PointsMovement[]): Promise<void> {
    await this.publish(this.topics.points, events, 4000);
  }

  private async publish(
    topic: Topics["purchases"],
    events: readonly (PurchaseEvent | PointsMovement)[],
    batch: number,
  ): Promise<void> {
    const producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      for (let i = 0; i < events.length; i += batch) {
        const slice = events.slice(i, i + batch);
        const messages = await Promise.all(
          slice.map(async (e) => ({
            key: e.memberId,
            value: await this.codec.encode(topic, e),
            timestamp: String(e.eventTime),
          })),
        );
        await producer.sendBatch({
          acks: -1,
          compression: CompressionTypes.None,
          topicMessages: [{ topic: topic.name, messages }],
        });
      }
    } finally {
      await producer.disconnect();
    }
  }

  /** Everything committed on loyalty.tiers.v1 so far (read_committed), per partition in offset order. */
  async readTiers(): Promise<KafkaMessage[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      const offs = await admin.fetchTopicOffsets(this.topics.tiers.name);
      ends = new Map(offs.map((o) => [o.partition, BigInt(o.high)]));
    } finally {
      await admin.disconnect();
    }
    const out: KafkaMessage[] = [];
    if ([...ends.values()].every((h) => h === 0n)) return out;
    const consumer = this.kafka.consumer({
      groupId: `tier-test-reader-${this.ns}-${Math.random().toString(36).slice(2)}`,
      maxBytesPerPartition: 8 * 1024 * 1024,
    });
    const maxSeen = new Map<number, bigint>();
    let lastArrival = Date.now();
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topics.tiers.name], fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (batch.messages.length === 0) return;
        out.push(...batch.messages);
        lastArrival = Date.now();
        const last = BigInt(batch.messages[batch.messages.length - 1]!.offset);
        if (last > (maxSeen.get(batch.partition) ?? -1n)) maxSeen.set(batch.partition, last);
      },
    });
    // Complete when each partition's last data record (the one before the final commit marker)
    // is in; otherwise (an aborted transaction at the end of a partition) once nothing new
    // has arrived for a while.
    const complete = () =>
      [...ends].every(([p, h]) => h === 0n || (maxSeen.get(p) ?? -1n) >= h - 2n) ||
      Date.now() - lastArrival > 4000;
    const deadline = Date.now() + 60_000;
    while (!complete()) {
      if (Date.now() > deadline) throw new Error(`timed out reading ${this.topics.tiers.name}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await consumer.disconnect();
    return out;
  }

  async decodeTiers(msgs: KafkaMessage[]): Promise<TierChanged[]> {
    return Promise.all(msgs.map((m) => this.codec.decode<TierChanged>(m.value!)));
  }

  /** The service's consumer group (its stream_tasks rows and Kafka offsets). */
  get groupId(): string {
    return `${this.ns}.tier-evaluator`;
  }

  /** Inputs whose effects are in PostgreSQL: the offsets of the group's tasks (ADR 16). */
  async processedCount(): Promise<number> {
    const r = await this.pool.query<{ n: number }>(
      `select coalesce(sum(o.value::bigint), 0)::int as n
         from stream_tasks, jsonb_each_text(offsets) as o
        where group_id = $1`,
      [this.groupId],
    );
    return r.rows[0]!.n;
  }

  /** Inputs whose output is committed in Kafka: the group's committed offsets. */
  async committedCount(): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const topics = [this.topics.purchases.name, this.topics.points.name];
      const offs = await admin.fetchOffsets({ groupId: this.groupId, topics });
      let n = 0;
      for (const t of offs) for (const p of t.partitions) if (Number(p.offset) > 0) n += Number(p.offset);
      return n;
    } finally {
      await admin.disconnect();
    }
  }

  /** The stream time of each of the group's tasks (the evaluator's clock per partition). */
  async streamTimes(): Promise<Map<number, number>> {
    const r = await this.pool.query<{ partition: number; stream_time: number }>(
      "select partition, stream_time from stream_tasks where group_id = $1",
      [this.groupId],
    );
    return new Map(r.rows.map((x) => [x.partition, Number(x.stream_time)]));
  }

  /** Waits until `n` inputs are applied in PostgreSQL and their output committed in Kafka. */
  async waitProcessed(n: number, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = await this.processedCount();
      if (done >= n && (await this.committedCount()) >= n) return;
      if (Date.now() > deadline)
        throw new Error(`only ${done} of ${n} inputs processed after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Per member, the sequence of (eventId, Avro body without the registry framing). */
export function perMember(msgs: KafkaMessage[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of msgs) {
    const key = m.key!.toString();
    const list = out.get(key) ?? [];
    // Bytes 1-4 are the schema id, which differs between namespaces' subjects.
    list.push(m.value!.subarray(5).toString("base64"));
    out.set(key, list);
  }
  return out;
}

export function groupByMember(changes: TierChanged[]): Map<string, TierChanged[]> {
  const out = new Map<string, TierChanged[]>();
  for (const d of changes) out.set(d.memberId, [...(out.get(d.memberId) ?? []), d]);
  return out;
}

/** How a replay is interrupted: SIGKILL once this many inputs are applied, or by the service itself after its k-th PostgreSQL commit, before that batch's Kafka commit. */
export type Interruption = { killAfterApplied: number } | { crashAfterCommits: number };

/**
 * A fresh namespace, every event published, the service run until all are applied and their
 * output committed (optionally interrupted once, then restarted).
 */
export async function replayInto(
  stack: TestStack,
  events: PurchaseEvent[],
  batch: string,
  interrupt?: Interruption,
) {
  const engine = await Engine.create(stack, testNamespace(), 3);
  await engine.publishPurchases(events);
  const t0 = Date.now();
  let killedAt: number | null = null;
  let kafkaAtKill: number | null = null;
  let svc: RunningService;
  if (interrupt && "crashAfterCommits" in interrupt) {
    svc = await engine.start({
      CONSUMER_MAX_BATCH: batch,
      TIER_CRASH_AFTER_COMMITS: String(interrupt.crashAfterCommits),
    });
    const child = svc.child;
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once("exit", r));
    if (child.signalCode !== "SIGKILL")
      throw new Error(`expected a SIGKILL, the service exited with ${child.exitCode}`);
  } else {
    svc = await engine.start({ CONSUMER_MAX_BATCH: batch });
    if (interrupt) {
      const deadline = Date.now() + 120_000;
      while ((await engine.processedCount()) < interrupt.killAfterApplied && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      await svc.kill();
    }
  }
  if (interrupt) {
    killedAt = await engine.processedCount();
    kafkaAtKill = await engine.committedCount();
    svc = await engine.start({ CONSUMER_MAX_BATCH: batch });
  }
  let code: number | null;
  try {
    await engine.waitProcessed(events.length, 240_000);
  } finally {
    code = await svc.stop();
  }
  if (code !== 0) throw new Error(`the tier evaluator exited with ${code} on SIGTERM`);
  const elapsedMs = Date.now() - t0;
  const msgs = await engine.readTiers();
  return { engine, msgs, elapsedMs, killedAt, kafkaAtKill };
}

/**
 * The oracle: the policy alone, member by member, over the member's own purchases in event
 * time, then advanced to just before its partition's final clock (what the service has seen).
 */
export async function expectedChanges(
  engine: Engine,
  events: PurchaseEvent[],
): Promise<Map<string, TierChanged[]>> {
  const clocks = await engine.streamTimes();
  const partitionOf = new Map(
    (
      await engine.pool.query<{ member_id: string; partition: number }>(
        "select member_id, partition from tier_members",
      )
    ).rows.map((r) => [r.member_id, r.partition]),
  );
  const states = new Map<string, TierState>();
  const out = new Map<string, TierChange[]>();
  const push = (m: string, cs: TierChange[]) => {
    if (cs.length) out.set(m, [...(out.get(m) ?? []), ...cs]);
  };
  for (const e of events) {
    const s = states.get(e.memberId) ?? initialState(e.memberId, defaultTierConfig);
    const r = apply(
      s,
      { kind: "purchase", eventId: e.eventId, eventTime: e.eventTime, value: e.baseAmountMinor, orders: 1 },
      defaultTierConfig,
    );
    states.set(e.memberId, r.state);
    push(e.memberId, r.changes);
  }
  for (const [m, s] of states)
    push(m, advanceTo(s, clocks.get(partitionOf.get(m)!)! - 1, defaultTierConfig).changes);
  return new Map([...out].map(([m, cs]) => [m, cs.map(toTierChanged)]));
}

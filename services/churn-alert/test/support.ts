// Shared by the integration tests: canonical CDNOW events, publishing, the service as a child
// process, waiting on PostgreSQL.

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AvroCodec,
  type ChurnAlert,
  type PurchaseEvent,
  type TopicSpec,
  namespacedTopics,
} from "@loyalty/contracts";
import { compileFx, normaliseOrder, orderEventId, parseText, validateOrder } from "@loyalty/ingestor";
import { ensureTopics } from "@loyalty/stream-runtime";
import { type TestStack, readTopic, serviceEnv, testKafka } from "@loyalty/testkit";
import type { Pool } from "pg";
import { datasetDir } from "./model/datasets.ts";

export const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
export const REPO = new URL("../../..", import.meta.url).pathname;

/** CDNOW file -> canonical purchases, exactly as the ingestor's domain builds them, in time order. */
export function canonicalCdnow(file: "CDNOW_sample.txt" | "CDNOW_master.txt"): PurchaseEvent[] {
  const text = readFileSync(join(datasetDir("cdnow"), file), "utf8");
  const fx = compileFx({ baseCurrency: "USD", rates: [] });
  const out: PurchaseEvent[] = [];
  for (const r of parseText(text)) {
    if (r.kind !== "order")
      throw new Error(`line ${r.lineNumber}: ${r.kind === "error" ? r.reason : r.kind}`);
    const order = validateOrder(r.order);
    if (!order.ok) throw new Error(`line ${r.lineNumber}: ${order.reason}`);
    const p = normaliseOrder(order.value, { memberId: order.value.customerId, fx });
    if (!p.ok) throw new Error(`line ${r.lineNumber}: ${p.reason}`);
    if (p.value.eventId !== orderEventId(order.value)) throw new Error("event id mismatch");
    out.push(p.value);
  }
  // A live stream arrives in time order; stable on file order within a millisecond.
  return out
    .map((e, i) => ({ e, i }))
    .sort((p, q) => p.e.eventTime - q.e.eventTime || p.i - q.i)
    .map((x) => x.e);
}

export async function provision(
  stack: TestStack,
  ns: string,
): Promise<{ codec: AvroCodec; topics: Record<string, TopicSpec> }> {
  // Alerts carry event-time timestamps (1997 for CDNOW): with the contract's 90-day retention the
  // broker would delete them within minutes, so the test's alert topic keeps everything.
  const named = namespacedTopics(ns);
  const topics = { ...named, churnAlerts: { ...named.churnAlerts, retentionMs: -1 } };
  const kafka = testKafka(stack.kafkaBrokers);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, { partitions: 3, replication: 1, topics: Object.values(topics) });
  await admin.disconnect();
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  await codec.registerAll(Object.values(topics));
  return { codec, topics };
}

export async function publish(
  stack: TestStack,
  codec: AvroCodec,
  topic: TopicSpec,
  events: readonly PurchaseEvent[],
  /** Record headers and an explicit partition (default: by key), per event. */
  opts: {
    headers?: (e: PurchaseEvent) => Record<string, string>;
    partition?: (e: PurchaseEvent) => number;
  } = {},
): Promise<void> {
  const producer = testKafka(stack.kafkaBrokers).producer();
  await producer.connect();
  for (let i = 0; i < events.length; i += 1000) {
    const chunk = events.slice(i, i + 1000);
    const messages = await Promise.all(
      chunk.map(async (e) => ({
        key: e.memberId,
        value: await codec.encode(topic, e),
        timestamp: String(e.eventTime),
        ...(opts.headers ? { headers: opts.headers(e) } : {}),
        ...(opts.partition ? { partition: opts.partition(e) } : {}),
      })),
    );
    await producer.send({ topic: topic.name, messages, acks: -1 });
  }
  await producer.disconnect();
}

export const INGESTOR_MAIN = new URL("../../ingestor/src/main.ts", import.meta.url).pathname;

export function startService(
  stack: TestStack,
  ns: string,
  env: Record<string, string>,
  main = MAIN,
): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", main], {
    cwd: REPO,
    env: serviceEnv(stack, ns, { SERVICE_NAME: main === MAIN ? "churn-alert" : "ingestor", ...env }),
    stdio: ["ignore", "inherit", "inherit"],
  });
}

export async function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill(signal);
  return exited;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(300);
  }
}

/** Done when every event is applied and the frontier has reached the last event time. */
export async function waitUntilCaughtUp(pool: Pool, events: number, lastTime: number, timeoutMs = 150_000) {
  return waitFor(
    "the churn engine to apply every event",
    async () => {
      const r = await pool.query<{ n: number; pending: number; frontier: number | null }>(
        `select (select count(*)::int from churn_events) as n,
                (select count(*)::int from churn_events e, churn_engine g where g.frontier is null or e.event_time > g.frontier) as pending,
                (select frontier from churn_engine) as frontier`,
      );
      const row = r.rows[0];
      return row !== undefined && row.n === events && row.pending === 0 && (row.frontier ?? 0) >= lastTime;
    },
    timeoutMs,
  );
}

/** Purchases recorded in churn_events whose order is not in the member's state. */
export async function purchasesMissingFromState(pool: Pool): Promise<number> {
  const r = await pool.query<{ n: number }>(
    `select count(*)::int as n from churn_events e
      where e.event->>'type' = 'purchase'
        and not exists (select 1 from churn_members m where m.member_id = e.member_id
                          and m.state->'orders'->(e.event->>'orderId')->>'eventId' = e.event_id)`,
  );
  return r.rows[0]?.n ?? -1;
}

/** Alerts on the topic (read committed), decoded, with duplicates by event id counted. */
export async function readAlerts(
  stack: TestStack,
  codec: AvroCodec,
  topic: string,
  expected: number,
): Promise<{ alerts: Map<string, ChurnAlert>; records: number }> {
  const msgs =
    expected === 0
      ? []
      : await readTopic(
          testKafka(stack.kafkaBrokers),
          topic,
          (ms) => ms.filter((m) => m.value !== null).length >= expected,
          60_000,
        );
  const alerts = new Map<string, ChurnAlert>();
  let records = 0;
  // Value-less records are frontier markers (ADR 12), not alerts.
  for (const m of msgs) {
    if (m.value === null) continue;
    records++;
    const a = await codec.decode<ChurnAlert>(m.value);
    alerts.set(a.eventId, a);
  }
  return { alerts, records };
}

export const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.abs(want);
export const PAPER = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 } as const;

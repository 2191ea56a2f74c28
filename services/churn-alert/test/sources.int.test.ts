// The watermark follows each upstream partition, not each input partition. When member ids are
// not the upstream keys, every purchases partition interleaves records of all upstream (orders)
// partitions in whatever order the ingestor processed their batches; here the interleaving is the
// worst there is once every pair has been heard from: after one event of each (partition, source)
// pair, all of one upstream partition's events, then the next one's. The alerts must be those of
// the same events arriving in time order, and no event may arrive behind the engine's frontier.
import { sourceHeaders } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  canonicalCdnow,
  provision,
  publish,
  purchasesMissingFromState,
  startService,
  stop,
  waitFor,
  waitUntilCaughtUp,
} from "./support.ts";

let stack: TestStack;
const pools: Pool[] = [];

beforeAll(async () => {
  stack = await requireStack();
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

async function namespace(): Promise<{ ns: string; pool: Pool }> {
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  const pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  pools.push(pool);
  return { ns, pool };
}

interface Outcome {
  alerts: string[];
  late: number;
  missing: number;
}

async function outcome(pool: Pool): Promise<Outcome> {
  const alerts = await pool.query<{ a: string }>(
    "select event_id || ' ' || member_id || ' ' || event_time as a from churn_alerts order by 1",
  );
  const late = await pool.query<{ n: number }>("select count(*)::int as n from churn_events where late");
  return {
    alerts: alerts.rows.map((r) => r.a),
    late: late.rows[0]?.n ?? -1,
    missing: await purchasesMissingFromState(pool),
  };
}

// A generous idle time: the paced case below must stay well within it between its parts.
const ENV = { CHURN_REFIT_DAYS: "7", CHURN_REFIT_ANCHOR: "1997-10-01", CHURN_IDLE_MS: "5000" };
const events = canonicalCdnow("CDNOW_sample.txt");
type Event = (typeof events)[number];
const last = events[events.length - 1]!.eventTime;
// Three upstream partitions, each in time order, crossed with the three purchases partitions.
const partition = (e: Event) => Number(e.memberId) % 3;
const source = (e: Event) => Math.floor(Number(e.memberId) / 3) % 3;

/** Runs the service over what `feed` publishes until every event is applied; its outcome. */
async function run(
  feed: (publishTo: (batch: readonly Event[]) => Promise<void>, pool: Pool) => Promise<void>,
) {
  const { ns, pool } = await namespace();
  const { codec, topics } = await provision(stack, ns);
  const headers = (e: Event) => sourceHeaders(topics.orders!.name, source(e));
  const service = startService(stack, ns, ENV);
  try {
    await feed((batch) => publish(stack, codec, topics.purchases!, batch, { partition, headers }), pool);
    await waitUntilCaughtUp(pool, events.length, last);
  } finally {
    expect(await stop(service)).toBe(0);
  }
  return outcome(pool);
}

let reference: Promise<Outcome> | undefined;
/** The same events published at once in time order. */
function inTimeOrder(): Promise<Outcome> {
  reference ??= run((publishTo) => publishTo(events));
  return reference;
}

it("gives the alerts of time order when upstream partitions arrive one after another", async () => {
  const firsts = new Set<Event>();
  const pairs = new Set<string>();
  for (const e of events) {
    const pair = `${partition(e)} ${source(e)}`;
    if (!pairs.has(pair)) firsts.add(e);
    pairs.add(pair);
  }
  expect(pairs.size).toBe(9);
  const rest = events.filter((e) => !firsts.has(e));
  const sequential = [...firsts, ...[0, 1, 2].flatMap((s) => rest.filter((e) => source(e) === s))];
  const [want, got] = await Promise.all([inTimeOrder(), run((publishTo) => publishTo(sequential))]);
  expect(want.alerts.length).toBeGreaterThan(100);
  expect(got.late).toBe(0);
  expect(got.missing).toBe(0);
  expect(got.alerts).toEqual(want.alerts);
}, 300_000);

it("does not release the tail when it catches up with a stream that is still coming", async () => {
  // The stream comes in twelve parts, the next one sent as soon as the service has consumed
  // everything so far (well within CHURN_IDLE_MS, 5 s here); purchases partition 0 runs a part
  // ahead of the others, as one of the ingestor's partitions does when its batches cover more
  // time. Releasing the tail at each catch-up would move the frontier to partition 0's time, and
  // the others' next events would arrive behind it.
  const parts = 12;
  const window = (i: number) => Math.floor((i * parts) / events.length);
  const chunks: Event[][] = Array.from({ length: parts }, () => []);
  events.forEach((e, i) => {
    const w = window(i);
    chunks[partition(e) === 0 ? Math.max(0, w - 1) : w]!.push(e);
  });
  const paced = run(async (publishTo, pool) => {
    let sent = 0;
    for (const chunk of chunks) {
      await publishTo(chunk);
      sent += chunk.length;
      await waitFor("the service to consume everything sent", async () => {
        const r = await pool.query<{ n: string | null }>(
          "select sum(o.next::bigint) as n from stream_tasks, jsonb_each_text(offsets) as o(topic, next)",
        );
        return Number(r.rows[0]?.n ?? 0) >= sent;
      });
    }
  });
  const [want, got] = await Promise.all([inTimeOrder(), paced]);
  expect(got.late).toBe(0);
  expect(got.missing).toBe(0);
  expect(got.alerts).toEqual(want.alerts);
}, 300_000);

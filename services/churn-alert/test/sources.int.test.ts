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

it("gives the alerts of time order when upstream partitions arrive one after another", async () => {
  const events = canonicalCdnow("CDNOW_sample.txt");
  const last = events[events.length - 1]!.eventTime;
  const inOrder = await namespace();
  const bySource = await namespace();
  const a = await provision(stack, inOrder.ns);
  const b = await provision(stack, bySource.ns);
  // Three upstream partitions, each in time order, crossed with the three purchases partitions.
  type Event = (typeof events)[number];
  const partition = (e: Event) => Number(e.memberId) % 3;
  const source = (e: Event) => Math.floor(Number(e.memberId) / 3) % 3;
  const opts = (orders: string) => ({ partition, headers: (e: Event) => sourceHeaders(orders, source(e)) });
  await publish(stack, a.codec, a.topics.purchases!, events, opts(a.topics.orders!.name));
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
  await publish(stack, b.codec, b.topics.purchases!, sequential, opts(b.topics.orders!.name));

  const env = { CHURN_REFIT_DAYS: "7", CHURN_REFIT_ANCHOR: "1997-10-01" };
  const services = [startService(stack, inOrder.ns, env), startService(stack, bySource.ns, env)];
  try {
    await Promise.all([
      waitUntilCaughtUp(inOrder.pool, events.length, last),
      waitUntilCaughtUp(bySource.pool, events.length, last),
    ]);
  } finally {
    for (const s of services) expect(await stop(s)).toBe(0);
  }
  const want = await outcome(inOrder.pool);
  const got = await outcome(bySource.pool);
  expect(want.alerts.length).toBeGreaterThan(100);
  expect(got.late).toBe(0);
  expect(got.missing).toBe(0);
  expect(got.alerts).toEqual(want.alerts);
}, 300_000);

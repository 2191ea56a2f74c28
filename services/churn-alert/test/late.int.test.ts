// Events that arrive at or behind the engine's frontier are applied in the transaction that
// records them (an event is in member state exactly when its time is at or before the frontier:
// ADR 8). Here a twentieth of the first half of CDNOW arrives after the engine has passed it.
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
let pool: Pool;
let ns: string;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
});

afterAll(async () => {
  await pool?.end();
});

it("applies events that arrive behind the frontier, in the transaction that records them", async () => {
  const events = canonicalCdnow("CDNOW_sample.txt");
  const half = events.slice(0, Math.floor(events.length / 2));
  const held = half.filter((_, i) => i % 20 === 7);
  const early = half.filter((_, i) => i % 20 !== 7);
  const rest = events.slice(half.length);
  const earlyEnd = early[early.length - 1]!.eventTime;
  const { codec, topics } = await provision(stack, ns);
  const churn = startService(stack, ns, { CHURN_REFIT_DAYS: "7", CHURN_REFIT_ANCHOR: "1997-10-01" });
  try {
    await publish(stack, codec, topics.purchases!, early);
    await waitUntilCaughtUp(pool, early.length, earlyEnd);
    await publish(stack, codec, topics.purchases!, [...held, ...rest]);
    await waitUntilCaughtUp(pool, events.length, events[events.length - 1]!.eventTime);
  } finally {
    expect(await stop(churn)).toBe(0);
  }
  const late = await pool.query<{ n: number }>("select count(*)::int as n from churn_events where late");
  expect(late.rows[0]?.n).toBe(held.filter((e) => e.eventTime < earlyEnd).length);
  expect(held.filter((e) => e.eventTime < earlyEnd).length).toBeGreaterThan(100);
  expect(await purchasesMissingFromState(pool)).toBe(0);
  const members = await pool.query<{ n: number }>(
    "select count(*)::int as n from churn_members where x is not null",
  );
  expect(members.rows[0]?.n).toBe(2357);
}, 200_000);

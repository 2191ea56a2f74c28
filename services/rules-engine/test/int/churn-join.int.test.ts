// The rules engine's event-time join with churn alerts (ADR 12), with the real churn-alert beside
// it. The engine starts first and churn-alert only later: read in arrival order, every purchase
// would be priced before any alert exists and no win-back would be paid. Joined in event time,
// the win-back goes exactly to each member's first purchase at or after their first alert
// (`winback-bonus` is capped at one bonus per member), as if the two had run in step.
// Without churn-alert, a purchase waits no longer than CHURN_JOIN_MAX_WAIT_MS: it is then priced
// with the alerts known (none) and counted as late.
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  canonicalCdnow,
  provision,
  publish,
  startService as startChurn,
  stop,
  waitFor,
  waitUntilCaughtUp,
} from "../../../churn-alert/test/support.ts";
import { startService, stopService, waitFor as waitUntil } from "./harness.ts";

let stack: TestStack;
let pool: Pool | null = null;

beforeAll(async () => {
  stack = await requireStack();
});

afterAll(async () => {
  await pool?.end();
});

const CHURN_ENV = { CHURN_REFIT_DAYS: "7", CHURN_REFIT_ANCHOR: "1997-10-01", CHURN_IDLE_MS: "1000" };

it("pays win-backs in event time however late churn-alert runs", async () => {
  const events = canonicalCdnow("CDNOW_sample.txt");
  const last = events[events.length - 1]!.eventTime;
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  const db = pool;
  const { codec, topics } = await provision(stack, ns);
  await publish(stack, codec, topics.purchases!, events);

  // However late: longer than this test runs, so no purchase is priced before churn-alert marks it.
  const engine = await startService(stack, ns, {
    CHURN_JOIN: "event-time",
    CHURN_JOIN_MAX_WAIT_MS: "600000",
  });
  let churn: ReturnType<typeof startChurn> | null = null;
  try {
    // Up and consuming: its group is stable with the inputs assigned; then give it time to fetch.
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    try {
      await waitFor("the rules engine to join its group", async () => {
        const g = await admin.describeGroups([`${ns}.rules-engine`]);
        return g.groups[0]?.state === "Stable";
      });
    } finally {
      await admin.disconnect();
    }
    await new Promise((r) => setTimeout(r, 8_000));
    const early = await db.query<{ n: number }>("select count(*)::int as n from rules_priced_events");
    // No churn-alert, no frontier: every purchase waits (in arrival order all would be priced).
    expect(early.rows[0]?.n).toBe(0);

    churn = startChurn(stack, ns, CHURN_ENV);
    await waitUntilCaughtUp(db, events.length, last);
    await waitFor(
      "the rules engine to price every purchase and alert",
      async () => {
        const r = await db.query<{ priced: number; alerts: number }>(
          `select (select count(*)::int from rules_priced_events) as priced,
                  (select count(*)::int from churn_alerts) as alerts`,
        );
        const row = r.rows[0];
        return row !== undefined && row.priced === events.length + row.alerts;
      },
      180_000,
    );

    // Expected: per member, the first purchase at or after the member's first alert.
    const alerts = await db.query<{ member_id: string; first: string }>(
      "select member_id, min(event_time)::text as first from churn_alerts group by member_id",
    );
    const firstAlert = new Map(alerts.rows.map((r) => [r.member_id, Number(r.first)]));
    const expected = new Map<string, string>();
    for (const e of events) {
      const a = firstAlert.get(e.memberId);
      if (a !== undefined && e.eventTime >= a && !expected.has(e.memberId))
        expected.set(e.memberId, e.eventId);
    }
    const paid = await db.query<{ member_id: string; source_event_id: string; points: string }>(
      "select member_id, source_event_id, points::text from ledger_entries where rule_id = 'winback-bonus'",
    );
    expect(expected.size).toBeGreaterThan(10);
    expect(new Map(paid.rows.map((r) => [r.member_id, r.source_event_id]))).toEqual(expected);
    expect(paid.rows.every((r) => r.points === "250")).toBe(true);
    expect(paid.rows.length).toBe(expected.size);
  } finally {
    if (churn) await stop(churn);
    await stopService(engine);
  }
}, 420_000);

it("prices purchases after the maximum wait when churn-alert is absent, and counts them late", async () => {
  const events = canonicalCdnow("CDNOW_sample.txt").slice(0, 600);
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  const db = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  const { codec, topics } = await provision(stack, ns);
  await publish(stack, codec, topics.purchases!, events);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const started = Date.now();
  const engine = await startService(stack, ns, {
    CHURN_JOIN: "event-time",
    CHURN_JOIN_MAX_WAIT_MS: "3000",
    HTTP_PORT: String(port),
  });
  try {
    await waitUntil(
      "every purchase priced without churn-alert",
      async () =>
        (await db.query<{ n: number }>("select count(*)::int as n from rules_priced_events")).rows[0]?.n ?? 0,
      (n) => n === events.length,
      60_000,
    );
    // Not stalled: priced within the wait plus start-up, not held for good.
    expect(Date.now() - started).toBeLessThan(60_000);
    // No alert was known, so no win-back was paid.
    const paid = await db.query("select 1 from ledger_entries where rule_id = 'winback-bonus'");
    expect(paid.rows).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const late = /^loyalty_rules_churn_join_late_total(?:\{[^}]*\})? (\d+)/m.exec(metrics);
    expect(Number(late?.[1] ?? 0)).toBeGreaterThan(0);
    expect(Number(late?.[1] ?? 0)).toBeLessThanOrEqual(events.length);
  } finally {
    await stopService(engine);
    await db.end();
  }
}, 180_000);

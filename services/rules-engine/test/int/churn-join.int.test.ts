// The rules engine's event-time join with churn alerts (ADR 12), with the real churn-alert beside
// it. The engine starts first and churn-alert only later: read in arrival order, every purchase
// would be priced before any alert exists and no win-back would be paid. Joined in event time,
// the win-back goes exactly to each member's first purchase at or after their first alert
// (`winback-bonus` is capped at one bonus per member), as if the two had run in step.
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
import { startService, stopService } from "./harness.ts";

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

  const engine = startService(stack, ns, { CHURN_JOIN: "event-time" });
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

// The service end to end on the real stack, fed canonical CDNOW purchases (built with the
// ingestor's domain functions) in time order: its own fit from its own state reproduces the
// published BG/NBD parameters, alerts come once per episode, and a second replay with other batch
// sizes and a SIGKILL in the middle gives exactly the same alerts.

import type { ChurnAlert } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../src/config.ts";
import { churnCard, fitAsOf } from "../src/queries.ts";
import { listFits } from "../src/store/fits.ts";
import {
  PAPER,
  canonicalCdnow,
  provision,
  publish,
  readAlerts,
  relErr,
  startService,
  stop,
  waitFor,
  waitUntilCaughtUp,
} from "./support.ts";

const events = canonicalCdnow("CDNOW_sample.txt");
const lastTime = events[events.length - 1]!.eventTime;
const CAL_END = Date.UTC(1997, 8, 30);
const ENV = { CHURN_REFIT_DAYS: "7", CHURN_REFIT_ANCHOR: "1997-10-01", CHURN_P_ALIVE_THRESHOLD: "0.3" };

let stack: TestStack;
const pools: Pool[] = [];

async function replay(ns: string, env: Record<string, string>, killAt?: number) {
  await migrate(stack.databaseUrl, undefined, ns);
  const pool = createPool(stack.databaseUrl, { max: 3, namespace: ns });
  pools.push(pool);
  const { codec, topics } = await provision(stack, ns);
  await publish(stack, codec, topics.purchases!, events);
  let child = startService(stack, ns, { ...ENV, ...env });
  let killed = false;
  try {
    if (killAt !== undefined) {
      await waitFor("the frontier to pass the kill point", async () => {
        const r = await pool.query<{ frontier: number | null }>("select frontier from churn_engine");
        return (r.rows[0]?.frontier ?? 0) >= killAt;
      });
      await stop(child, "SIGKILL");
      killed = true;
      child = startService(stack, ns, { ...ENV, ...env });
    }
    await waitUntilCaughtUp(pool, events.length, lastTime);
  } finally {
    expect(await stop(child)).toBe(0);
  }
  const stored = await pool.query<{ n: number }>("select count(*)::int as n from churn_alerts");
  const expected = stored.rows[0]?.n ?? 0;
  const onTopic = await readAlerts(stack, codec, topics.churnAlerts!.name, expected);
  return { pool, killed, alertsStored: expected, ...onTopic };
}

let first: Awaited<ReturnType<typeof replay>>;

beforeAll(async () => {
  stack = await requireStack();
  first = await replay(testNamespace(), { CONSUMER_MAX_BATCH: "500" });
}, 240_000);

afterAll(async () => {
  for (const p of pools) await p.end();
});

describe("churn-alert on the CDNOW sample", () => {
  it("holds every member and refits on schedule; the fit as of 1997-09-30 matches the paper within 1%", async () => {
    const members = await first.pool.query<{ n: number }>("select count(*)::int as n from churn_members");
    const late = await first.pool.query<{ n: number }>(
      "select count(*)::int as n from churn_events where late",
    );
    expect(late.rows[0]?.n).toBe(0);
    expect(members.rows[0]?.n).toBe(2357);
    const fits = await listFits(first.pool, 1000);
    const calibration = fits.find((f) => f.trigger === "schedule" && f.calibrationEnd === CAL_END);
    expect(calibration).toBeDefined();
    const f = calibration!;
    expect(f.fittedAt).toBe(Date.UTC(1997, 9, 1));
    expect(f.members).toBe(2357);
    expect(f.converged).toBe(true);
    expect(f.accepted).toBe(true);
    for (const k of ["r", "alpha", "a", "b"] as const)
      expect(relErr(f.bgnbd[k], PAPER[k])).toBeLessThan(0.01);
    expect(f.logLikelihood).toBeCloseTo(-9582.4, 0);
    // Fits are stored at every refit point; their event times step by the cadence.
    const scheduled = fits.filter((x) => x.trigger === "schedule").map((x) => x.fittedAt);
    for (const t of scheduled) expect(Math.abs((t - Date.UTC(1997, 9, 1)) % (7 * 86_400_000))).toBe(0);
  });

  it("recomputes the same fit on demand from the members' state in PostgreSQL", async () => {
    const f = await fitAsOf(first.pool, CAL_END);
    expect(f.trigger).toBe("as-of");
    expect(f.members).toBe(2357);
    for (const k of ["r", "alpha", "a", "b"] as const)
      expect(relErr(f.bgnbd[k], PAPER[k])).toBeLessThan(0.01);
    expect(f.gammaGamma).not.toBeNull();
  });

  it("alerts once per episode, below the threshold, on the grid, under the model in force", async () => {
    const alerts = [...first.alerts.values()];
    expect(alerts.length).toBeGreaterThan(50);
    expect(first.alerts.size).toBe(first.alertsStored);
    const fits = (await listFits(first.pool, 1000)).filter((f) => f.trigger === "schedule");
    const byMember = new Map<string, ChurnAlert[]>();
    for (const a of alerts) {
      expect(a.pAlive).toBeLessThan(0.3);
      expect(a.eventTime % 86_400_000).toBe(0);
      expect(a.horizonDays).toBe(90);
      expect(a.currency).toBe("USD");
      expect(["high-value-at-risk", "at-risk", "low-value-at-risk"]).toContain(a.actionLevel);
      expect(a.reason).toMatch(/^P\(alive\) 0\.\d+ below 0\.30 after \d+ days without a purchase/);
      // The latest accepted fit at or before the alert (rejected ones never come in force).
      const inForce = fits
        .filter((f) => f.accepted && f.fittedAt <= a.eventTime)
        .sort((p, q) => q.fittedAt - p.fittedAt)[0];
      expect(a.modelVersion).toBe(inForce?.modelVersion);
      expect(a.bgnbd).toEqual(inForce?.bgnbd);
      byMember.set(a.memberId, [...(byMember.get(a.memberId) ?? []), a]);
    }
    // A second alert for a member needs a purchase after the first one (events at the alert's
    // instant come after it).
    let rearmed = 0;
    for (const [member, list] of byMember) {
      list.sort((p, q) => p.eventTime - q.eventTime);
      for (let i = 1; i < list.length; i++) {
        const r = await first.pool.query<{ n: number }>(
          `select count(*)::int as n from churn_events where member_id = $1 and event->>'type' = 'purchase'
             and event_time >= $2 and event_time < $3`,
          [member, list[i - 1]!.eventTime, list[i]!.eventTime],
        );
        expect(r.rows[0]?.n).toBeGreaterThan(0);
        rearmed++;
      }
    }
    const card = await churnCard(first.pool, alerts[0]!.memberId, { ...DEFAULT_SETTINGS, threshold: 0.3 });
    expect(card).not.toBeNull();
    expect(card!.lastAlertAt).not.toBeNull();
    expect(card!.pAlive).toBeGreaterThan(0);
    console.log(
      `sample: ${alerts.length} alerts, ${byMember.size} members alerted, ${rearmed} re-armed episodes`,
    );
  });

  it("gives identical alerts and fits on a second replay with other batches and a SIGKILL midway", async () => {
    const second = await replay(testNamespace(), { CONSUMER_MAX_BATCH: "137" }, Date.UTC(1997, 6, 1));
    expect(second.killed).toBe(true);
    const late = await second.pool.query<{ n: number }>(
      "select count(*)::int as n from churn_events where late",
    );
    expect(late.rows[0]?.n).toBe(0);
    expect(second.alerts.size).toBe(first.alerts.size);
    for (const [id, a] of first.alerts) expect(second.alerts.get(id)).toEqual(a);
    const fa = (await listFits(first.pool, 1000)).filter((f) => f.trigger === "schedule");
    const fb = (await listFits(second.pool, 1000)).filter((f) => f.trigger === "schedule");
    expect(fb.map((f) => [f.modelVersion, f.bgnbd, f.members, f.accepted, f.rejectedReason])).toEqual(
      fa.map((f) => [f.modelVersion, f.bgnbd, f.members, f.accepted, f.rejectedReason]),
    );
    console.log(`second replay: ${second.records} records on the topic for ${second.alerts.size} alerts`);
  }, 240_000);
});

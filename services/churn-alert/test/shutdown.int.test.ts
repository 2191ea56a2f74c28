// A live event years after the history makes the engine refit every week in between: a long
// catch-up in one step. Shutdown must not wait for all of it: the step pauses after the refit in
// progress, the service exits 0 within its timeout, and a restart resumes where it paused, with
// no scheduled refit lost or repeated.

import { createPool, migrate } from "@loyalty/db";
import { requireStack, testNamespace } from "@loyalty/testkit";
import { expect, it } from "vitest";
import {
  canonicalCdnow,
  provision,
  publish,
  startService,
  stop,
  waitFor,
  waitUntilCaughtUp,
} from "./support.ts";

const WEEK = 7 * 86_400_000;
// The live event is past the watermark's tail: released once the input has stood idle 0.5 s.
const ENV = { CHURN_REFIT_DAYS: "7", CHURN_REFIT_ANCHOR: "1997-10-01", CHURN_IDLE_MS: "500" };

it("pauses a years-long catch-up at shutdown and resumes it after a restart", async () => {
  const stack = await requireStack();
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  const pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  try {
    const events = canonicalCdnow("CDNOW_sample.txt");
    const lastTime = events[events.length - 1]!.eventTime;
    const last = events[events.length - 1]!;
    // Twenty years on: about 1,040 weekly refits between the history and this purchase.
    const live = {
      ...last,
      eventId: "live-after-20-years",
      orderId: "live-1",
      eventTime: Date.UTC(2018, 5, 1),
    };
    const { codec, topics } = await provision(stack, ns);
    await publish(stack, codec, topics.purchases!, events);
    let child = startService(stack, ns, ENV);
    await waitUntilCaughtUp(pool, events.length, lastTime);

    await publish(stack, codec, topics.purchases!, [live]);
    await waitFor("the live event to be recorded", async () => {
      const r = await pool.query<{ n: number }>("select count(*)::int as n from churn_events");
      return r.rows[0]!.n === events.length + 1;
    });
    await new Promise((r) => setTimeout(r, 2000)); // into the catch-up
    const t0 = Date.now();
    expect(await stop(child)).toBe(0);
    const stopSeconds = (Date.now() - t0) / 1000;
    const paused = await pool.query<{ frontier: string }>("select frontier from churn_engine");
    const frontier = Number(paused.rows[0]!.frontier);
    expect(frontier).toBeGreaterThan(lastTime);
    expect(frontier).toBeLessThan(live.eventTime);

    child = startService(stack, ns, ENV);
    try {
      await waitUntilCaughtUp(pool, events.length + 1, live.eventTime, 600_000);
    } finally {
      expect(await stop(child)).toBe(0);
    }
    const fits = await pool.query<{ fitted_at: string }>(
      "select fitted_at from churn_fits where trigger = 'schedule' order by fitted_at",
    );
    const times = fits.rows.map((f) => Number(f.fitted_at));
    const gaps = new Set(times.slice(1).map((t, i) => t - times[i]!));
    expect([...gaps]).toEqual([WEEK]);
    expect(times[times.length - 1]).toBeLessThanOrEqual(live.eventTime);
    expect(times[times.length - 1]! + WEEK).toBeGreaterThan(live.eventTime);
    console.log(`catch-up paused at ${new Date(frontier).toISOString()} in ${stopSeconds.toFixed(1)} s`);
  } finally {
    await pool.end();
  }
}, 900_000);

// Guarded fits on the real stack: a full CDNOW master replay (69,659 canonical purchases in time
// order, default settings: weekly refits on Thursdays, at least 200 repeat buyers and 56 days of
// history). The early fits, degenerate (nobody has visibly dropped out yet) or on too little
// data, are stored with accepted = false and the reason, and never drive an alert; every alert,
// in churn_alerts and on the topic, names the accepted fit in force and carries its parameters.

import type { ChurnAlert } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listFits } from "../src/store/fits.ts";
import {
  canonicalCdnow,
  provision,
  publish,
  readAlerts,
  startService,
  stop,
  waitUntilCaughtUp,
} from "./support.ts";

const events = canonicalCdnow("CDNOW_master.txt");
const lastTime = events[events.length - 1]!.eventTime;
const FIRST_ACCEPTED = Date.UTC(1997, 1, 27);

let stack: TestStack;
let pool: Pool;
let alerts: Map<string, ChurnAlert>;
let stored: number;

beforeAll(async () => {
  stack = await requireStack();
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 3, namespace: ns });
  const { codec, topics } = await provision(stack, ns);
  await publish(stack, codec, topics.purchases!, events);
  const child = startService(stack, ns, { CONSUMER_SESSION_TIMEOUT_MS: "60000", LOG_LEVEL: "warn" });
  try {
    await waitUntilCaughtUp(pool, events.length, lastTime, 400_000);
  } finally {
    expect(await stop(child)).toBe(0);
  }
  const r = await pool.query<{ n: number }>("select count(*)::int as n from churn_alerts");
  stored = r.rows[0]?.n ?? 0;
  alerts = (await readAlerts(stack, codec, topics.churnAlerts!.name, stored)).alerts;
}, 480_000);

afterAll(async () => {
  await pool?.end();
});

describe("guarded fits on a CDNOW master replay", () => {
  it("stores the early fits as rejected with the reason, and the later ones as accepted", async () => {
    const r = await pool.query<{ fitted_at: number; accepted: boolean; rejected_reason: string | null }>(
      "select fitted_at, accepted, rejected_reason from churn_fits where trigger = 'schedule' order by fitted_at",
    );
    const fits = r.rows.map((f) => ({ ...f, fitted_at: Number(f.fitted_at) }));
    const rejected = fits.filter((f) => !f.accepted);
    const accepted = fits.filter((f) => f.accepted);
    // Weekly on Thursdays (the default anchor 1970-01-01 is one) from the first purchase day,
    // 1997-01-01, to the last refit point before the last purchase (1998-06-30): 78 fits.
    const week = 7 * 86_400_000;
    expect(fits.map((f) => f.fitted_at)).toEqual(
      Array.from({ length: 78 }, (_, k) => Date.UTC(1997, 0, 2) + k * week),
    );
    expect(new Date(fits[77]!.fitted_at).toISOString()).toBe("1998-06-25T00:00:00.000Z");
    expect(rejected.map((f) => f.fitted_at).every((t) => t < FIRST_ACCEPTED)).toBe(true);
    expect(accepted.map((f) => f.fitted_at).every((t) => t >= FIRST_ACCEPTED)).toBe(true);
    expect(rejected).toHaveLength(8);
    expect(accepted).toHaveLength(70);
    for (const f of rejected) expect(f.rejected_reason).toMatch(/./);
    for (const f of accepted) expect(f.rejected_reason).toBeNull();
    // The history guard alone rejects all of them; the degenerate ones have more reasons.
    for (const f of rejected) expect(f.rejected_reason).toMatch(/days of history < 56$/);
    expect(rejected.some((f) => f.rejected_reason!.includes("at the optimiser's cap"))).toBe(true);
    expect(rejected.some((f) => f.rejected_reason!.includes("not converged"))).toBe(true);
    expect(rejected.some((f) => /repeat buyers < 200/.test(f.rejected_reason!))).toBe(true);
    const listed = await listFits(pool, 1000);
    expect(listed.filter((f) => !f.accepted)).toHaveLength(8);

    const engine = await pool.query<{ accepted: boolean }>(
      "select f.accepted from churn_engine g join churn_fits f using (model_version)",
    );
    expect(engine.rows).toEqual([{ accepted: true }]);
  });

  it("raises alerts only under accepted fits, each naming the fit in force and its parameters", async () => {
    expect(stored).toBeGreaterThan(0);
    const fromRejected = await pool.query<{ n: number }>(
      `select count(*)::int as n from churn_alerts a
        where not exists (select 1 from churn_fits f where f.model_version = a.model_version and f.accepted)`,
    );
    expect(fromRejected.rows[0]?.n).toBe(0);
    const before = await pool.query<{ n: number }>(
      "select count(*)::int as n from churn_alerts where event_time < $1",
      [FIRST_ACCEPTED],
    );
    expect(before.rows[0]?.n).toBe(0);

    expect(alerts.size).toBe(stored);
    const fits = (await listFits(pool, 1000)).filter((f) => f.trigger === "schedule");
    const accepted = fits.filter((f) => f.accepted);
    for (const a of alerts.values()) {
      const inForce = accepted
        .filter((f) => f.fittedAt <= a.eventTime)
        .sort((p, q) => q.fittedAt - p.fittedAt)[0];
      expect(inForce).toBeDefined();
      expect(a.modelVersion).toBe(inForce!.modelVersion);
      expect(a.bgnbd).toEqual(inForce!.bgnbd);
      expect(a.pAlive).toBeLessThan(0.3);
    }
    const records = await pool.query<{ record: ChurnAlert; model_version: string }>(
      "select record, model_version from churn_alerts",
    );
    for (const { record, model_version } of records.rows) {
      expect(record.modelVersion).toBe(model_version);
      expect(record.bgnbd).toEqual(fits.find((f) => f.modelVersion === model_version)!.bgnbd);
    }
    console.log(
      `master: ${events.length} events, ${fits.length} scheduled fits ` +
        `(${fits.length - accepted.length} rejected), ${alerts.size} alerts`,
    );
  });
});

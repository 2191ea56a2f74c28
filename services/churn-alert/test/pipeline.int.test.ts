// Validation against the published result, through the whole pipeline: CDNOW_sample.txt replayed
// as upstream orders (the lead's replayFile) through the ingestor into churn-alert. The file is in
// customer order, not time order, so most events reach churn-alert behind its event-time frontier;
// the fit "as of 1997-09-30" is therefore made from the members' complete state in PostgreSQL once
// every member is there (the `loyalty churn model --refit --as-of 1997-09-30` path), and must match
// r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 within 1%.

import { join } from "node:path";
import { createPool, migrate } from "@loyalty/db";
import { replayFile } from "@loyalty/ingestor";
import { type TestStack, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fitAsOf } from "../src/queries.ts";
import { loadFit } from "../src/store/fits.ts";
import { datasetDir } from "./model/datasets.ts";
import {
  INGESTOR_MAIN,
  PAPER,
  provision,
  purchasesMissingFromState,
  relErr,
  startService,
  stop,
  waitFor,
} from "./support.ts";

let stack: TestStack;
let pool: Pool;
const ns = testNamespace();

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
});
afterAll(async () => {
  await pool?.end();
});

describe("CDNOW sample through ingestor and churn-alert", () => {
  it("the service's own fit from its own state matches Fader, Hardie & Lee (2005) within 1%", async () => {
    const { topics } = await provision(stack, ns);
    const ingestor = startService(stack, ns, {}, INGESTOR_MAIN);
    const churn = startService(stack, ns, {});
    try {
      const sent = await replayFile({
        kafka: testKafka(stack.kafkaBrokers),
        topic: topics.orders!.name,
        file: join(datasetDir("cdnow"), "CDNOW_sample.txt"),
      });
      expect(sent.sent).toBe(6919);
      await waitFor(
        "all 2,357 members and 6,919 purchases applied in churn-alert",
        async () => {
          const r = await pool.query<{ members: number; events: number; pending: number }>(
            `select (select count(*)::int from churn_members where x is not null) as members,
                    (select count(*)::int from churn_events) as events,
                    (select count(*)::int from churn_events e, churn_engine g where g.frontier is null or e.event_time > g.frontier) as pending`,
          );
          const row = r.rows[0];
          return row !== undefined && row.members === 2357 && row.events === 6919 && row.pending === 0;
        },
        150_000,
      );
    } finally {
      expect(await stop(churn)).toBe(0);
      expect(await stop(ingestor)).toBe(0);
    }

    // Whether or not some purchases reached churn behind its frontier, all are in member state.
    expect(await purchasesMissingFromState(pool)).toBe(0);
    const fit = await fitAsOf(pool, Date.UTC(1997, 8, 30));
    const stored = await loadFit(pool, fit.modelVersion);
    expect(stored).toEqual(fit);
    expect(fit.trigger).toBe("as-of");
    expect(fit.calibrationEnd).toBe(Date.UTC(1997, 8, 30));
    expect(fit.members).toBe(2357);
    expect(fit.converged).toBe(true);
    for (const k of ["r", "alpha", "a", "b"] as const)
      expect(relErr(fit.bgnbd[k], PAPER[k])).toBeLessThan(0.01);
    console.log("pipeline fit as of 1997-09-30:", fit.bgnbd, "LL", fit.logLikelihood);
  }, 200_000);
});

// GET /churn-card on the real service's ops server: churn-alert runs on the CDNOW sample (weekly
// refits from 1997-10-01, so a model is in force), then answers each member's card from its own
// tables, the same card `churnCard` (the CLI's `member show`) computes; an unknown member is a 404
// and a malformed id a 400, both with the ops error body.
import { createServer } from "node:net";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { churnCard } from "../src/queries.ts";
import {
  canonicalCdnow,
  provision,
  publish,
  startService,
  stop,
  waitFor,
  waitUntilCaughtUp,
} from "./support.ts";

let stack: TestStack;
let pool: Pool;
let ns: string;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const address = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (address === null || typeof address === "string") throw new TypeError("no TCP port");
  return address.port;
}

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
});

afterAll(async () => {
  await pool?.end();
});

it("answers every member's churn card from its own tables; 404 unknown, 400 malformed", async () => {
  const events = canonicalCdnow("CDNOW_sample.txt");
  const last = events[events.length - 1];
  if (last === undefined) throw new RangeError("the CDNOW sample is empty");
  const { codec, topics } = await provision(stack, ns);
  const purchases = topics.purchases;
  if (purchases === undefined) throw new RangeError("no purchases topic");
  const port = await freePort();
  const churn = startService(stack, ns, {
    HTTP_PORT: String(port),
    CHURN_REFIT_DAYS: "7",
    CHURN_REFIT_ANCHOR: "1997-10-01",
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (query: string) => {
    const res = await fetch(`${base}/churn-card${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  try {
    await publish(stack, codec, purchases, events);
    await waitUntilCaughtUp(pool, events.length, last.eventTime);
    // Members with and without an alert alike: the first and the last buyer of the sample.
    const ids = [...new Set([events[0]?.memberId, last.memberId])].filter((m) => m !== undefined);
    expect(ids.length).toBe(2);
    for (const id of ids) {
      const expected = await waitFor(`${id}'s churn card`, () => churnCard(pool, id));
      const r = await get(`?memberId=${encodeURIComponent(id)}`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(JSON.parse(JSON.stringify(expected)));
      expect(r.body.memberId).toBe(id);
      expect(r.body.pAlive).toBeGreaterThanOrEqual(0);
      expect(r.body.pAlive).toBeLessThanOrEqual(1);
      expect(typeof r.body.segment).toBe("string");
    }
    const unknown = await get("?memberId=nobody-bought-anything");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: "NOT_FOUND" } });
    for (const bad of ["", "?memberId=a%20b", `?memberId=${"x".repeat(129)}`, "?memberId=1&x=2"]) {
      const r = await get(bad);
      expect(r.status, bad).toBe(400);
      expect(r.body, bad).toMatchObject({ error: { code: "VALIDATION_FAILED" } });
    }
  } finally {
    expect(await stop(churn)).toBe(0);
  }
}, 240_000);

import type { ChildProcess } from "node:child_process";
// Event-time mode with a real ledger: the rules engine earns points on canonical CDNOW purchases;
// the API (its own consumer group on loyalty.points.v1) follows the engine's watermark. A redemption
// is a ledger command, dated at the stream time of the member's task in the engine; purchases of other members a year later move every partition's
// stream time past the lots' expiry and the engine (the ledger's only expirer) expires them, with
// EXPIRED events whose ids derive from the lot ids.
import { AvroCodec, type PointsMovement, namespacedTopics } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import { memberPartitioner, verifyLedger } from "@loyalty/rules-engine";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  Inputs,
  cdnowPurchases,
  startService as startRulesEngine,
  stopService,
} from "../../../rules-engine/test/int/harness.ts";
import { entryIdOf, expirySourceOf } from "../../src/domain/ids.ts";
import { ADMIN_KEY, type Api, DAY, balanceOf, call, namespacePool, startApi, waitFor } from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api;
let engine: ChildProcess;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
});

afterAll(async () => {
  const apiCode = await api?.service.stop();
  if (engine) await stopService(engine);
  await pool?.end();
  expect(apiCode).toBe(0);
});

it("redeems at the watermark and expires lots when the watermark passes their expiry", async () => {
  const inputs = new Inputs(stack, ns);
  await inputs.prepare();
  engine = await startRulesEngine(stack, ns);
  api = await startApi(stack, ns);
  // Two months of purchases: nothing earned in them expires before the late purchase below.
  const all = cdnowPurchases(120).filter((p) => p.type === "PURCHASE");
  const start = Math.min(...all.map((p) => p.eventTime));
  const purchases = all.filter((p) => p.eventTime < start + 60 * DAY);
  const members = [...new Set(purchases.map((p) => p.memberId))].slice(0, 6);
  const mine = purchases.filter((p) => members.includes(p.memberId));
  await inputs.produce(inputs.topics.purchases, mine);
  const earned = await waitFor(
    "earned lots",
    async () =>
      (
        await pool.query<{ member_id: string; lot_id: string; points: number; expires_at: Date }>(
          "select member_id, lot_id, points, expires_at from ledger_lots order by member_id, expires_at",
        )
      ).rows,
    (rows) => new Set(rows.map((r) => r.member_id)).size === members.length,
    90_000,
  );
  const lastEvent = Math.max(...mine.map((p) => p.eventTime));
  // The API's clock follows the stream: its summary is computed at the watermark.
  const member = earned[0]?.member_id as string;
  const summary = await waitFor(
    "API watermark",
    () => call(api.base, "GET", `/v1/members/${member}`, { key: ADMIN_KEY }),
    (r) => r.status === 200 && Date.parse(r.body.asOf) === lastEvent,
    60_000,
  );
  const memberLots = earned.filter((l) => l.member_id === member);
  const total = memberLots.reduce((s, l) => s + l.points, 0);
  expect(summary.body.balance).toBe(total);
  expect(summary.body.expiring[2].points).toBe(
    memberLots
      .filter((l) => l.expires_at.getTime() <= lastEvent + 90 * DAY)
      .reduce((s, l) => s + l.points, 0),
  );

  // History carries the rule id and version of each earn entry.
  const history = await call(api.base, "GET", `/v1/members/${member}/ledger`, { key: ADMIN_KEY });
  expect(history.body.entries.length).toBeGreaterThan(0);
  for (const e of history.body.entries) {
    expect(e.kind).toBe("earn");
    expect(typeof e.ruleId).toBe("string");
    expect(e.ruleVersion).toBeGreaterThanOrEqual(1);
  }

  const redeemed = Math.min(total, 3);
  const r = await call(api.base, "POST", `/v1/members/${member}/redemptions`, {
    key: ADMIN_KEY,
    body: { points: redeemed },
    headers: { "idempotency-key": "et-1" },
  });
  expect(r.status).toBe(201);
  // The engine applies it at the stream time of the member's task (ADR 16 step 3): the latest
  // purchase of the member's partition, not of every partition.
  const partitionOf = memberPartitioner(3);
  const partitionLast = Math.max(
    ...mine.filter((p) => partitionOf(p.memberId) === partitionOf(member)).map((p) => p.eventTime),
  );
  expect(Date.parse(r.body.eventTime)).toBe(partitionLast);

  // A purchase of another member a day after the last lot expires, in every partition, moves
  // each partition's stream time: the engine's punctuation expires the idle members' lots.
  const lastExpiry = Math.max(...earned.map((l) => l.expires_at.getTime()));
  const base = all.find((p) => !members.includes(p.memberId)) ?? mine[0];
  if (!base) throw new Error("no purchase to move the clock");
  const movers = new Map<number, string>();
  for (let i = 0; movers.size < 3; i++) {
    const id = `clock-mover-${i}`;
    if (!movers.has(partitionOf(id))) movers.set(partitionOf(id), id);
  }
  const late = [...movers.values()].map((memberId) => ({
    ...base,
    eventId: `${base.eventId}-late-${memberId}`,
    orderId: `${base.orderId}-late-${memberId}`,
    memberId,
    eventTime: lastExpiry + DAY,
  }));
  await inputs.produce(inputs.topics.purchases, late);

  for (const m of members)
    await waitFor(
      `expiry of ${m}`,
      () => balanceOf(pool, m),
      (b) => b === 0,
      60_000,
    );
  const expiries = await pool.query<{ entry_id: string; points: number; event_time: Date }>(
    "select entry_id, points, event_time from ledger_entries where kind = 'expire'",
  );
  const byId = new Map(expiries.rows.map((e) => [e.entry_id, e]));
  for (const l of earned) {
    const id = entryIdOf(expirySourceOf(l.lot_id, 0), null, "expire", l.member_id);
    const e = byId.get(id);
    if (l.member_id === member && e === undefined) continue; // fully redeemed lot: nothing left to expire
    expect(e?.event_time.getTime()).toBe(l.expires_at.getTime());
  }
  expect(-expiries.rows.reduce((s, e) => s + e.points, 0)).toBe(
    earned.reduce((s, l) => s + l.points, 0) - redeemed,
  );

  const topic = namespacedTopics(ns).points;
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  const msgs = await readTopic(
    testKafka(stack.kafkaBrokers),
    topic.name,
    (m) => m.length >= earned.length + 1 + expiries.rows.length,
    60_000,
  );
  const events = await Promise.all(msgs.map((m) => codec.decode<PointsMovement>(m.value as Buffer)));
  const expired = events.filter((e) => e.kind === "EXPIRED");
  expect(expired.map((e) => e.eventId).sort()).toEqual(expiries.rows.map((e) => e.entry_id).sort());
  expect(events.filter((e) => e.kind === "REDEEMED").map((e) => e.eventId)).toEqual([r.body.entryId]);
  expect((await verifyLedger(pool)).differences).toEqual([]);
}, 240_000);

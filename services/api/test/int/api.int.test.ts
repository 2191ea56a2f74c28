// The member API against the real stack (wall-clock mode), beside the rules engine that applies
// its ledger commands (ADR 16 step 3): authentication and scopes, FIFO redemption, idempotent
// retries, 50 concurrent redemptions on one balance, cancellation back into the original lots,
// adjustments, closed and unknown members, 202 and the status URL when the engine does not answer
// in time, every entry on loyalty.points.v1 once (the engine's expiry on its wall-mode timer
// included; the API writes and expires nothing). Every answer is held to the OpenAPI document by `call`
// (helpers.ts).
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { AvroCodec, type PointsMovement, namespacedTopics } from "@loyalty/contracts";
import { type Pool, createRedis } from "@loyalty/db";
import { memberPartitioner, verifyLedger } from "@loyalty/rules-engine";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Inputs,
  cdnowPurchases,
  startService as startRulesEngine,
  stopService,
} from "../../../rules-engine/test/int/harness.ts";
import { entryIdOf, expirySourceOf } from "../../src/domain/ids.ts";
import { openApiDocument } from "../../src/http/openapi.ts";
import { RedisRateLimiter } from "../../src/http/rate-limit.ts";
import { ContractViolation, ResponseContract } from "../contract.ts";
import {
  ADMIN_KEY,
  type Api,
  DAY,
  REPO,
  balanceOf,
  call,
  lotsOf,
  namespacePool,
  seedLots,
  startApi,
  waitFor,
} from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api;
let engine: ChildProcess | undefined;
const keys: Record<"read" | "redeem", string> = { read: "", redeem: "" };
const NOW = Date.now();

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  api = await startApi(stack, ns, { CLOCK_MODE: "wall" });
  // The ledger's owner: it applies the API's commands, and expires on its wall-mode timer.
  engine = await startRulesEngine(stack, ns, { CLOCK_MODE: "wall", POINTS_EXPIRY_CHECK_MS: "300" });
  for (const scope of ["read", "redeem"] as const) {
    const r = await call(api.base, "POST", "/v1/keys", {
      key: ADMIN_KEY,
      body: { name: scope, scopes: [scope] },
    });
    expect(r.status).toBe(201);
    expect(r.body.key).toMatch(/^lk_/);
    keys[scope] = r.body.key;
  }
});

afterAll(async () => {
  if (engine) expect(await stopService(engine)).toBe(0);
  const code = await api?.service.stop();
  await pool?.end();
  expect(code).toBe(0);
});

const redeem = (member: string, idem: string, body: unknown, key = keys.redeem) =>
  call(api.base, "POST", `/v1/members/${member}/redemptions`, {
    key,
    body,
    headers: { "idempotency-key": idem },
  });

describe("liveness and readiness", () => {
  it("answers /livez, and /readyz 200 with PostgreSQL, Kafka (wall mode: an admin) and lag checked", async () => {
    expect(await call(api.base, "GET", "/livez")).toMatchObject({ status: 200, body: { status: "ok" } });
    const ready = await call(api.base, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: "ready",
      failing: [],
      checks: { postgres: { ok: true }, kafka: { ok: true }, lag: { ok: true, max: null } },
    });
    expect(ready.body.checks.kafka.brokers).toBeGreaterThanOrEqual(1);
  });
});

describe("authentication", () => {
  it("refuses no key, a wrong key and a key without the scope", async () => {
    await seedLots(pool, "auth1", [{ points: 10, expiresAt: NOW + 100 * DAY }]);
    const none = await call(api.base, "GET", "/v1/members/auth1");
    expect([none.status, none.body.error.code]).toEqual([401, "AUTH_MISSING"]);
    const forged = keys.read.slice(0, -4) + (keys.read.endsWith("AAAA") ? "BBBB" : "AAAA");
    const wrong = await call(api.base, "GET", "/v1/members/auth1", { key: forged });
    expect([wrong.status, wrong.body.error.code]).toEqual([401, "AUTH_INVALID"]);
    const unknown = await call(api.base, "GET", "/v1/members/auth1", {
      key: `lk_0123456789abcdef_${"x".repeat(43)}`,
    });
    expect([unknown.status, unknown.body.error.code]).toEqual([401, "AUTH_INVALID"]);
    const readRedeems = await redeem("auth1", "a1", { points: 1 }, keys.read);
    expect([readRedeems.status, readRedeems.body.error.code]).toEqual([403, "SCOPE_FORBIDDEN"]);
    const redeemAdjusts = await call(api.base, "POST", "/v1/members/auth1/adjustments", {
      key: keys.redeem,
      body: { points: 5, reason: "goodwill" },
      headers: { "idempotency-key": "x" },
    });
    expect([redeemAdjusts.status, redeemAdjusts.body.error.code]).toEqual([403, "SCOPE_FORBIDDEN"]);
    const redeemMintsKeys = await call(api.base, "POST", "/v1/keys", {
      key: keys.redeem,
      body: { name: "x", scopes: ["admin"] },
    });
    expect(redeemMintsKeys.status).toBe(403);
    // Nothing was spent by the refused requests; the right key reads.
    const ok = await call(api.base, "GET", "/v1/members/auth1", { key: keys.read });
    expect([ok.status, ok.body.balance]).toEqual([200, 10]);
    const stored = await pool.query<{ key_hash: Buffer }>("select key_hash from api_keys");
    expect(stored.rows.length).toBe(2);
    for (const r of stored.rows) expect(r.key_hash.length).toBe(32);
  });
});

describe("redemption", () => {
  it("consumes lots FIFO by expiry, then lot id", async () => {
    const [late, soonB, soonA] = await seedLots(pool, "fifo1", [
      { points: 100, expiresAt: NOW + 200 * DAY, tag: "late" },
      { points: 50, expiresAt: NOW + 20 * DAY, tag: "b" },
      { points: 30, expiresAt: NOW + 20 * DAY, tag: "a" },
    ]);
    const [first, second] = [soonA, soonB].sort() as [string, string];
    const r = await redeem("fifo1", "f1", { points: 100, orderId: "o-1" });
    expect(r.status).toBe(201);
    const takeFirst = first === soonA ? 30 : 50;
    expect(r.body.lots.map((l: { lotId: string; points: number }) => [l.lotId, l.points])).toEqual([
      [first, takeFirst],
      [second, 80 - takeFirst],
      [late, 20],
    ]);
    const lots = await lotsOf(pool, "fifo1");
    expect(lots.get(soonA as string)?.remaining).toBe(0);
    expect(lots.get(soonB as string)?.remaining).toBe(0);
    expect(lots.get(late as string)?.remaining).toBe(80);
    expect(await balanceOf(pool, "fifo1")).toBe(80);
    expect(r.body.balanceAfter).toBe(80);
    // Read-your-writes: the answer came after the API's read model applied the entry, so the very
    // next read (no polling) shows the balance and the lot left, and the history has the entry.
    const s = await call(api.base, "GET", "/v1/members/fifo1", { key: keys.read });
    expect(s.body).toMatchObject({ balance: 80, available: 80 });
    expect(s.body.expiring.map((e: { points: number }) => e.points)).toEqual([0, 0, 0]);
    const h = await call(api.base, "GET", "/v1/members/fifo1/ledger?limit=1", { key: keys.read });
    expect(h.body.entries[0]).toMatchObject({ entryId: r.body.entryId, kind: "redeem", points: -100 });
  });

  it("a retry with the same key returns the first answer and changes nothing; another body is 409", async () => {
    await seedLots(pool, "idem1", [{ points: 500, expiresAt: NOW + 100 * DAY }]);
    const first = await redeem("idem1", "order-77", { points: 120, orderId: "77" });
    expect(first.status).toBe(201);
    const again = await redeem("idem1", "order-77", { orderId: "77", points: 120 });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => redeem("idem1", "order-78", { points: 10 })),
    );
    expect(new Set(concurrent.map((c) => c.body.redemptionId)).size).toBe(1);
    expect(concurrent.every((c) => c.status === 201)).toBe(true);
    const other = await redeem("idem1", "order-77", { points: 121, orderId: "77" });
    expect([other.status, other.body.error.code, other.body.error.field]).toEqual([
      409,
      "IDEMPOTENCY_KEY_REUSED",
      "headers.idempotency-key",
    ]);
    expect(await balanceOf(pool, "idem1")).toBe(500 - 120 - 10);
    const n = await pool.query(
      "select count(*)::int as n from ledger_entries where member_id = 'idem1' and kind = 'redeem'",
    );
    expect(n.rows[0].n).toBe(2);
  });

  it("50 concurrent redemptions never overspend one balance", async () => {
    await seedLots(pool, "race1", [
      { points: 400, expiresAt: NOW + 30 * DAY },
      { points: 300, expiresAt: NOW + 60 * DAY },
      { points: 300, expiresAt: NOW + 90 * DAY },
    ]);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => redeem("race1", `race-${i}`, { points: 30 })),
    );
    const ok = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 422);
    expect(ok.length).toBe(33);
    expect(refused.length).toBe(17);
    for (const r of refused)
      expect(r.body.error).toMatchObject({ code: "INSUFFICIENT_BALANCE", field: "body.points" });
    expect(await balanceOf(pool, "race1")).toBe(10);
    expect([...(await lotsOf(pool, "race1")).values()].reduce((s, l) => s + l.remaining, 0)).toBe(10);
    // Each successful answer saw a distinct balance: the redemptions were serialised.
    expect(new Set(ok.map((r) => r.body.balanceAfter)).size).toBe(33);
    const s = await call(api.base, "GET", "/v1/members/race1", { key: keys.read });
    expect(s.body).toMatchObject({ balance: 10, available: 10 });
    expect(s.body.expiring.map((e: { points: number }) => e.points)).toEqual([0, 0, 10]);
  });

  it("unknown and closed members are refused with their codes", async () => {
    const unknown = await redeem("nobody", "u1", { points: 1 });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "MEMBER_NOT_FOUND"]);
    await seedLots(pool, "closed1", [{ points: 50, expiresAt: NOW + 100 * DAY }]);
    const close = await call(api.base, "POST", "/v1/members/closed1/close", {
      key: ADMIN_KEY,
      body: { reason: "member asked" },
    });
    expect([close.status, close.body.status]).toEqual([200, "closed"]);
    const refused = await redeem("closed1", "c1", { points: 1 });
    expect([refused.status, refused.body.error.code]).toEqual([409, "MEMBER_CLOSED"]);
    expect(await balanceOf(pool, "closed1")).toBe(50);
    const tooMuch = await redeem("fifo1", "big", { points: 81 });
    expect([tooMuch.status, tooMuch.body.error.code]).toEqual([422, "INSUFFICIENT_BALANCE"]);
  });
});

describe("a late reply", () => {
  it("answers 202 with a status URL; the result is there once the engine replied, and a retry gets it", async () => {
    await seedLots(pool, "slow1", [{ points: 100, expiresAt: NOW + 100 * DAY }]);
    const slow = await startApi(stack, ns, { CLOCK_MODE: "wall", LEDGER_REPLY_TIMEOUT_MS: "1" });
    try {
      const body = { points: 40, orderId: "o-slow" };
      const r = await call(slow.base, "POST", "/v1/members/slow1/redemptions", {
        key: keys.redeem,
        body,
        headers: { "idempotency-key": "slow-1" },
      });
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ status: "pending", commandId: expect.stringMatching(/^rdm-/) });
      expect(r.headers.get("location")).toBe(r.body.statusUrl);
      const done = await waitFor(
        "the reply",
        async () => (await call(slow.base, "GET", r.body.statusUrl, { key: keys.redeem })).body,
        (b) => b.status === "done",
        30_000,
      );
      expect(done).toMatchObject({
        commandId: r.body.commandId,
        httpStatus: 201,
        result: {
          redemptionId: r.body.commandId,
          status: "redeemed",
          points: 40,
          balanceAfter: 60,
          orderId: "o-slow",
        },
      });
      // Another instance answers the same key's retry with the stored answer.
      const again = await redeem("slow1", "slow-1", body);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(done.result);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await balanceOf(pool, "slow1")).toBe(60);
      // Only the key that sent it (or an admin key) sees it.
      const other = await call(api.base, "POST", "/v1/keys", {
        key: ADMIN_KEY,
        body: { name: "other", scopes: ["redeem"] },
      });
      const hidden = await call(api.base, "GET", r.body.statusUrl, { key: other.body.key });
      expect([hidden.status, hidden.body.error.code]).toEqual([404, "NOT_FOUND"]);
      const asAdmin = await call(api.base, "GET", r.body.statusUrl, { key: ADMIN_KEY });
      expect(asAdmin.body).toEqual(done);
    } finally {
      expect(await slow.service.stop()).toBe(0);
    }
  });
});

describe("a reply nobody read", () => {
  it("is asked for again by the next start of the API: the status URL gets the answer", async () => {
    await seedLots(pool, "lost1", [{ points: 100, expiresAt: NOW + 100 * DAY }]);
    // No engine: the command waits in Kafka; the API answers 202 and stops.
    if (engine) expect(await stopService(engine)).toBe(0);
    engine = undefined;
    const first = await startApi(stack, ns, { CLOCK_MODE: "wall", LEDGER_REPLY_TIMEOUT_MS: "200" });
    let statusUrl = "";
    try {
      const r = await call(first.base, "POST", "/v1/members/lost1/redemptions", {
        key: keys.redeem,
        body: { points: 25 },
        headers: { "idempotency-key": "lost-1" },
      });
      expect(r.status).toBe(202);
      statusUrl = r.body.statusUrl;
    } finally {
      expect(await first.service.stop()).toBe(0);
    }
    // The engine applies it and replies while the only other API reads from its own start on;
    // that API settles it. The answer is stored once, whoever reads it: here, to show the resend,
    // forget it and let a new instance ask again.
    engine = await startRulesEngine(stack, ns, { CLOCK_MODE: "wall", POINTS_EXPIRY_CHECK_MS: "300" });
    await waitFor(
      "the redemption",
      () => balanceOf(pool, "lost1"),
      (b) => b === 75,
      60_000,
    );
    await waitFor(
      "settled by the running API",
      async () => (await call(api.base, "GET", statusUrl, { key: keys.redeem })).body.status,
      (s) => s === "done",
      30_000,
    );
    await pool.query(
      "update api_ledger_commands set http_status = null, response = null, replied_at = null where command_id = $1",
      [statusUrl.split("/").pop()],
    );
    const second = await startApi(stack, ns, { CLOCK_MODE: "wall" });
    try {
      const done = await waitFor(
        "the answer asked for again",
        async () => (await call(second.base, "GET", statusUrl, { key: keys.redeem })).body,
        (b) => b.status === "done",
        30_000,
      );
      expect(done).toMatchObject({ httpStatus: 201, result: { points: 25, balanceAfter: 75 } });
      expect(await balanceOf(pool, "lost1")).toBe(75);
      const n = await pool.query(
        "select count(*)::int as n from ledger_entries where member_id = 'lost1' and kind = 'redeem'",
      );
      expect(n.rows[0].n).toBe(1);
    } finally {
      expect(await second.service.stop()).toBe(0);
    }
  });
});

describe("cancellation", () => {
  it("returns the points to their original lots with their original expiry, once", async () => {
    const [a, b] = await seedLots(pool, "cancel1", [
      { points: 40, expiresAt: NOW + 10 * DAY, tag: "a" },
      { points: 100, expiresAt: NOW + 50 * DAY, tag: "b" },
    ]);
    const before = await lotsOf(pool, "cancel1");
    const r = await redeem("cancel1", "c-1", { points: 70 });
    expect(r.status).toBe(201);
    // Points earned after the redemption must not receive the cancelled points.
    const [fresh] = await seedLots(pool, "cancel1", [{ points: 5, expiresAt: NOW + 5 * DAY, tag: "fresh" }]);
    const url = `/v1/members/cancel1/redemptions/${r.body.redemptionId}/cancel`;
    const c = await call(api.base, "POST", url, { key: keys.redeem });
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: "cancelled", points: 70, balanceAfter: 145 });
    expect(c.body.lots).toEqual([
      { lotId: a, points: 40, expiresAt: new Date(NOW + 10 * DAY).toISOString() },
      { lotId: b, points: 30, expiresAt: new Date(NOW + 50 * DAY).toISOString() },
    ]);
    const after = await lotsOf(pool, "cancel1");
    expect(after.get(a as string)).toEqual(before.get(a as string));
    expect(after.get(b as string)).toEqual(before.get(b as string));
    expect(after.get(fresh as string)?.remaining).toBe(5);
    const again = await call(api.base, "POST", url, { key: keys.redeem });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(c.body);
    expect(await balanceOf(pool, "cancel1")).toBe(145);
    // The read model put the points back into their lots too: what expires per horizon.
    const s = await call(api.base, "GET", "/v1/members/cancel1", { key: keys.read });
    expect(s.body.balance).toBe(145);
    expect(s.body.expiring.map((e: { points: number }) => e.points)).toEqual([45, 145, 145]);
    const missing = await call(
      api.base,
      "POST",
      `/v1/members/cancel1/redemptions/rdm-${"0".repeat(32)}/cancel`,
      {
        key: keys.redeem,
      },
    );
    expect([missing.status, missing.body.error.code]).toEqual([404, "REDEMPTION_NOT_FOUND"]);
  });
});

describe("adjustments, history, summary", () => {
  it("adjusts with a reason, lists history newest first, and member show prints the API's summary", async () => {
    await seedLots(pool, "adj1", [{ points: 20, expiresAt: NOW + 40 * DAY }]);
    const plus = await call(api.base, "POST", "/v1/members/adj1/adjustments", {
      key: ADMIN_KEY,
      body: {
        points: 100,
        reason: "goodwill for late delivery",
        expiresAt: new Date(NOW + 75 * DAY).toISOString(),
      },
      headers: { "idempotency-key": "adj-1" },
    });
    expect(plus.status).toBe(201);
    expect(plus.body.balanceAfter).toBe(120);
    const minus = await call(api.base, "POST", "/v1/members/adj1/adjustments", {
      key: ADMIN_KEY,
      body: { points: -30, reason: "duplicate award" },
      headers: { "idempotency-key": "adj-2" },
    });
    expect(minus.status).toBe(201);
    expect(minus.body.lots).toEqual([
      { lotId: expect.any(String), points: -20, expiresAt: new Date(NOW + 40 * DAY).toISOString() },
      { lotId: plus.body.entryId, points: -10, expiresAt: new Date(NOW + 75 * DAY).toISOString() },
    ]);
    const p1 = await call(api.base, "GET", "/v1/members/adj1/ledger?limit=2", { key: keys.read });
    expect(p1.status).toBe(200);
    expect(
      p1.body.entries.map((e: { kind: string; points: number; reason: string | null }) => [
        e.kind,
        e.points,
        e.reason,
      ]),
    ).toEqual([
      ["adjust", -30, "duplicate award"],
      ["adjust", 100, "goodwill for late delivery"],
    ]);
    const p2 = await call(api.base, "GET", `/v1/members/adj1/ledger?limit=2&before=${p1.body.nextCursor}`, {
      key: keys.read,
    });
    expect(p2.body.entries).toHaveLength(1);
    expect(p2.body.entries[0]).toMatchObject({ kind: "earn", ruleId: "seed", ruleVersion: 1, points: 20 });
    expect(p2.body.nextCursor).toBeNull();

    const s = await call(api.base, "GET", "/v1/members/adj1", { key: keys.read });
    expect(s.body).toMatchObject({ balance: 90, available: 90, status: "open" });
    expect(s.body.expiring.map((e: { points: number }) => e.points)).toEqual([0, 0, 90]);
  });
});

describe("expiry and the points topic", () => {
  it("the engine expires due lots on its timer; every committed movement is emitted once", async () => {
    const [lot] = await seedLots(pool, "exp1", [
      { points: 25, expiresAt: Date.now() + 1500, tag: "soon" },
      { points: 10, expiresAt: NOW + 100 * DAY, tag: "later" },
    ]);
    // A task that has consumed nothing has no offsets to commit its work with (ADR 16, step 4), so
    // one purchase of another member on exp1's partition starts it; exp1 itself has no movement.
    const inputs = new Inputs(stack, ns);
    await inputs.prepare();
    const admin = inputs.kafka.admin();
    await admin.connect();
    const meta = await admin
      .fetchTopicMetadata({ topics: [inputs.topics.purchases.name] })
      .finally(() => admin.disconnect());
    const partitionOf = memberPartitioner(meta.topics[0]?.partitions.length ?? 0);
    let warm = "warm0";
    for (let i = 1; partitionOf(warm) !== partitionOf("exp1"); i++) warm = `warm${i}`;
    const [purchase] = cdnowPurchases(1);
    expect(purchase).toBeDefined();
    if (purchase === undefined) return;
    await inputs.produce(inputs.topics.purchases, [{ ...purchase, memberId: warm, eventTime: Date.now() }]);
    // The ledger's owner expires lots, here on its wall-mode timer (a member with no movement).
    await waitFor(
      "expiry",
      () => balanceOf(pool, "exp1"),
      (b) => b === 10,
      90_000,
    );
    const expiryId = entryIdOf(expirySourceOf(lot as string, 0), null, "expire", "exp1");
    const e = await pool.query("select points, balance_after from ledger_entries where entry_id = $1", [
      expiryId,
    ]);
    expect(e.rows).toEqual([{ points: -25, balance_after: 10 }]);
    expect((await lotsOf(pool, "exp1")).get(lot as string)?.remaining).toBe(0);

    // The engine's entries and the seeds' earns (published as the engine would).
    const written = await pool.query<{ entry_id: string; kind: string }>(
      "select entry_id, kind from ledger_entries where member_id <> $1 order by seq",
      [warm],
    );
    const topic = namespacedTopics(ns).points;
    const msgs = await readTopic(
      testKafka(stack.kafkaBrokers),
      topic.name,
      (m) => m.filter((x) => x.key?.toString() !== warm).length >= written.rows.length,
    );
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const events = (
      await Promise.all(msgs.map((m) => codec.decode<PointsMovement>(m.value as Buffer)))
    ).filter((x) => x.memberId !== warm);
    expect(events.map((x) => x.eventId).sort()).toEqual(written.rows.map((r) => r.entry_id).sort());
    const expired = events.find((x) => x.eventId === expiryId);
    expect(expired).toMatchObject({ kind: "EXPIRED", points: -25, balanceAfter: 10, memberId: "exp1" });
    expect(events.filter((x) => x.kind === "REDEEMED").length).toBe(
      written.rows.filter((r) => r.kind === "redeem").length,
    );

    const report = await verifyLedger(pool);
    expect(report.differences).toEqual([]);
    expect(report.entries).toBeGreaterThan(50);

    // The API's read model, fed by the topic alone, equals the ledger: every entry, balance, debt
    // and open lot (remaining, expiry).
    const ledger = async (sql: string) => (await pool.query<{ line: string }>(sql)).rows.map((r) => r.line);
    await waitFor(
      "the points read model caught up with the ledger",
      () => ledger("select count(*)::text as line from api_points_entries"),
      (n) => n[0] === String(report.entries),
    );
    expect(
      await ledger(
        "select member_id || ' ' || balance || ' ' || debt as line from api_points_balances order by 1",
      ),
    ).toEqual(
      await ledger(
        "select member_id || ' ' || balance || ' ' || debt as line from ledger_balances order by 1",
      ),
    );
    const open = (t: string) =>
      `select lot_id || ' ' || member_id || ' ' || points || ' ' || remaining || ' ' || expires_at as line
         from ${t} where remaining > 0 order by 1`;
    expect(await ledger(open("api_points_lots"))).toEqual(await ledger(open("ledger_lots")));
    expect(
      await ledger("select entry_id || balance_after as line from api_points_entries order by 1"),
    ).toEqual(await ledger("select entry_id || balance_after as line from ledger_entries order by 1"));
    const s = await call(api.base, "GET", "/v1/members/exp1", { key: keys.read });
    expect([s.body.balance, s.body.expiring.map((e: { points: number }) => e.points)]).toEqual([
      10,
      [0, 0, 0],
    ]);
  });
});

describe("the OpenAPI contract", () => {
  it("serves the committed document, and answers 404, 413 and 415 in the documented shapes", async () => {
    const served = await call(api.base, "GET", "/openapi.json");
    expect(served.body).toEqual(JSON.parse(readFileSync(`${REPO}schemas/openapi.json`, "utf8")));
    const tooLarge = await call(api.base, "POST", "/v1/members/auth1/adjustments", {
      key: ADMIN_KEY,
      body: { points: 1, reason: "x".repeat(17 * 1024) },
      headers: { "idempotency-key": "too-large" },
    });
    expect([tooLarge.status, tooLarge.body.error.code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
    const xml = await call(api.base, "POST", "/v1/keys", {
      key: ADMIN_KEY,
      raw: "<key name='x'/>",
      headers: { "content-type": "application/xml" },
    });
    expect([xml.status, xml.body.error.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    const nowhere = await call(api.base, "DELETE", "/v1/keys", { key: ADMIN_KEY });
    expect([nowhere.status, nowhere.body.error.code]).toEqual([404, "NOT_FOUND"]);
  });

  it("an answer the document does not allow fails the call that received it", async () => {
    const narrowed = structuredClone(openApiDocument()) as {
      paths: Record<string, { get: { responses: Record<string, unknown> } }>;
    };
    const summary = narrowed.paths["/v1/members/{memberId}"];
    if (!summary) throw new Error("the document lost GET /v1/members/{memberId}");
    summary.get.responses = Object.fromEntries(
      Object.entries(summary.get.responses).filter(([status]) => status !== "401"),
    );
    const strict = new ResponseContract(narrowed);
    const refused = call(api.base, "GET", "/v1/members/auth1", { contract: strict });
    await expect(refused).rejects.toThrow(ContractViolation);
    await expect(refused).rejects.toThrow(/GET \/v1\/members\/auth1 → 401: status not documented/);
    // The same request with a key passes the same narrowed contract.
    const ok = await call(api.base, "GET", "/v1/members/auth1", { key: keys.read, contract: strict });
    expect(ok.status).toBe(200);
  });
});

describe("rate limiting in Redis", () => {
  it("two limiters (two instances) share one bucket per key", async () => {
    const redis = createRedis(stack.redisUrl, ns);
    const fail = (err: unknown) => {
      throw err;
    };
    const a = new RedisRateLimiter(redis, { rate: 1, burst: 3 }, fail);
    const b = new RedisRateLimiter(redis, { rate: 1, burst: 3 }, fail);
    const seen = [await a.take("k1"), await b.take("k1"), await a.take("k1"), await b.take("k1")];
    expect(seen.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(seen[3]?.retryAfterMs).toBeGreaterThan(0);
    expect(seen[3]?.retryAfterMs).toBeLessThanOrEqual(1000);
    expect((await b.take("k2")).allowed).toBe(true);
    redis.disconnect();
  });
});

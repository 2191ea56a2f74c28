import type { ChildProcess } from "node:child_process";
// API keys' lifecycle against the real stack: create (secret once, only its hash stored), list
// (never a secret), revoke and expire, each refused within one second (also when revoked by
// another process, as the CLI does); last_used_at written at most once a minute; a redemption
// cancelled only by the key that made it or an admin key (403 otherwise); and the per-IP limit
// before authentication: a burst of random keys from one address costs a bounded number of
// PostgreSQL queries, shown by a counting pool and by the metrics.
import { setTimeout as sleep } from "node:timers/promises";
import type { Pool } from "@loyalty/db";
import { RuntimeMetrics, createLogger } from "@loyalty/stream-runtime";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startService as startRulesEngine,
  stopService as stopRulesEngine,
} from "../../../rules-engine/test/int/harness.ts";
import { securityMetrics } from "../../src/http-metrics.ts";
import { IpLimiter } from "../../src/http/ip-limit.ts";
import { MemoryRateLimiter } from "../../src/http/rate-limit.ts";
import { buildServer } from "../../src/http/server.ts";
import { KeyStore, newKey, parseKey } from "../../src/store/keys.ts";
import {
  ADMIN_KEY,
  type Api,
  DAY,
  balanceOf,
  call,
  ledgerDigest,
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
const NOW = Date.now();

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  api = await startApi(stack, ns, { CLOCK_MODE: "wall" });
  // The ledger's owner applies the API's redemptions (ADR 16 step 3).
  engine = await startRulesEngine(stack, ns, { CLOCK_MODE: "wall" });
});

afterAll(async () => {
  if (engine) expect(await stopRulesEngine(engine)).toBe(0);
  const code = await api?.service.stop();
  await pool?.end();
  expect(code).toBe(0);
});

const admin = { key: ADMIN_KEY };
const createKey = async (body: Record<string, unknown>) => {
  const r = await call(api.base, "POST", "/v1/keys", { ...admin, body });
  expect(r.status).toBe(201);
  return r.body as { keyId: string; key: string; status: string };
};
const readAs = (key: string) => call(api.base, "GET", "/v1/members/keys-m1", { key });

/** Milliseconds from now until `key` is refused (401), polling every 20 ms; fails after 3 s. */
async function refusedWithin(key: string): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await readAs(key);
    if (r.status === 401) {
      expect(r.body.error.code).toBe("AUTH_INVALID");
      return Date.now() - t0;
    }
    expect(r.status).toBe(200);
    if (Date.now() - t0 > 3_000) throw new Error("the key was still accepted after 3 s");
    await sleep(20);
  }
}

describe("key lifecycle", () => {
  it("creates a key with owner, scopes and expiry; the secret is answered once and only its hash stored", async () => {
    await seedLots(pool, "keys-m1", [{ points: 10, expiresAt: NOW + 100 * DAY }]);
    const expiresAt = new Date(NOW + 3_600_000).toISOString();
    const k = await createKey({ name: "pos-1", owner: "store-ops", scopes: ["read", "redeem"], expiresAt });
    expect(k).toMatchObject({
      name: "pos-1",
      owner: "store-ops",
      scopes: ["read", "redeem"],
      createdBy: "env-admin",
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
      status: "active",
    });
    expect(k.key).toMatch(new RegExp(`^lk_${k.keyId}_[A-Za-z0-9_-]{43}$`));
    const row = await pool.query<{ key_hash: Buffer; owner: string }>(
      "select key_hash, owner from api_keys where key_id = $1",
      [k.keyId],
    );
    expect(row.rows[0]?.key_hash.length).toBe(32);
    expect(row.rows[0]?.key_hash.toString("utf8")).not.toContain(k.key.slice(20));
    expect((await readAs(k.key)).status).toBe(200);

    // Listed with every field, never the key or its hash.
    const list = await call(api.base, "GET", "/v1/keys", admin);
    expect(list.status).toBe(200);
    const text = JSON.stringify(list.body);
    const secret = parseKey(k.key)?.secret;
    expect(secret).toHaveLength(43);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(row.rows[0]?.key_hash.toString("hex"));
    const listed = list.body.keys.find((x: { keyId: string }) => x.keyId === k.keyId);
    expect(listed).toMatchObject({
      owner: "store-ops",
      scopes: ["read", "redeem"],
      expiresAt,
      status: "active",
    });
    expect(Object.keys(listed).sort()).toEqual(
      [
        "keyId",
        "name",
        "owner",
        "scopes",
        "createdBy",
        "createdAt",
        "lastUsedAt",
        "expiresAt",
        "revokedAt",
        "status",
      ].sort(),
    );
    // Only admin keys manage keys; a key without a name, or expiring in the past, is refused.
    expect((await call(api.base, "GET", "/v1/keys", { key: k.key })).status).toBe(403);
    const past = await call(api.base, "POST", "/v1/keys", {
      ...admin,
      body: { name: "x", scopes: ["read"], expiresAt: new Date(NOW - 1000).toISOString() },
    });
    expect([past.status, past.body.error.field]).toEqual([400, "body.expiresAt"]);
  });

  it("writes last_used_at on use, at most once a minute", async () => {
    const k = await createKey({ name: "used", scopes: ["read"] });
    const lastUsed = async () =>
      (
        await pool.query<{ last_used_at: Date | null }>(
          "select last_used_at from api_keys where key_id = $1",
          [k.keyId],
        )
      ).rows[0]?.last_used_at ?? null;
    expect(await lastUsed()).toBeNull();
    expect((await readAs(k.key)).status).toBe(200);
    const first = await waitFor("last_used_at", lastUsed, (v) => v !== null, 5_000);
    for (let i = 0; i < 20; i++) expect((await readAs(k.key)).status).toBe(200);
    await sleep(300);
    expect((await lastUsed())?.getTime()).toBe(first?.getTime());
    const listed = (await call(api.base, "GET", "/v1/keys", admin)).body.keys.find(
      (x: { keyId: string }) => x.keyId === k.keyId,
    );
    expect(listed.lastUsedAt).toBe(first?.toISOString());
  });

  it("a key revoked through the API is refused at once, and through another process within one second", async () => {
    const viaApi = await createKey({ name: "revoke-me", scopes: ["read"] });
    expect((await readAs(viaApi.key)).status).toBe(200);
    const revoked = await call(api.base, "POST", `/v1/keys/${viaApi.keyId}/revoke`, admin);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ keyId: viaApi.keyId, status: "revoked" });
    expect(Date.parse(revoked.body.revokedAt)).toBeGreaterThan(0);
    expect(await refusedWithin(viaApi.key)).toBeLessThan(100);
    // Revoking again answers the first revocation.
    const again = await call(api.base, "POST", `/v1/keys/${viaApi.keyId}/revoke`, admin);
    expect(again.body.revokedAt).toBe(revoked.body.revokedAt);

    // As the CLI does: another process's KeyStore on the same database; the API has it cached.
    const other = await createKey({ name: "revoke-elsewhere", scopes: ["read"] });
    expect((await readAs(other.key)).status).toBe(200);
    await new KeyStore(pool, ADMIN_KEY).revoke(other.keyId);
    const ms = await refusedWithin(other.key);
    console.log(`revoked in another process: refused after ${ms} ms`);
    expect(ms).toBeLessThan(1_000);

    const unknown = await call(api.base, "POST", "/v1/keys/0123456789abcdef/revoke", admin);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "KEY_NOT_FOUND"]);
    const env = await call(api.base, "POST", "/v1/keys/env-admin/revoke", admin);
    expect([env.status, env.body.error.field]).toEqual([400, "params.keyId"]);
  });

  it("expires keys: at the time set at creation, or at once when the expiry is moved to the past", async () => {
    const soon = await createKey({
      name: "soon",
      scopes: ["read"],
      expiresAt: new Date(Date.now() + 1_500).toISOString(),
    });
    expect((await readAs(soon.key)).status).toBe(200);
    await sleep(
      Math.max(
        0,
        Date.parse(
          (await call(api.base, "GET", "/v1/keys", admin)).body.keys.find(
            (x: { keyId: string }) => x.keyId === soon.keyId,
          ).expiresAt,
        ) - Date.now(),
      ),
    );
    expect((await readAs(soon.key)).status).toBe(401);

    const k = await createKey({ name: "expire-me", scopes: ["read"] });
    expect((await readAs(k.key)).status).toBe(200);
    const past = new Date(Date.now() - 1_000).toISOString();
    const expired = await call(api.base, "POST", `/v1/keys/${k.keyId}/expiry`, {
      ...admin,
      body: { expiresAt: past },
    });
    expect(expired.status).toBe(200);
    expect(expired.body).toMatchObject({ expiresAt: past, status: "expired" });
    expect(await refusedWithin(k.key)).toBeLessThan(100);
    const listed = (await call(api.base, "GET", "/v1/keys", admin)).body.keys.find(
      (x: { keyId: string }) => x.keyId === k.keyId,
    );
    expect(listed.status).toBe("expired");
    // Cleared: it works again.
    const cleared = await call(api.base, "POST", `/v1/keys/${k.keyId}/expiry`, {
      ...admin,
      body: { expiresAt: null },
    });
    expect(cleared.body).toMatchObject({ expiresAt: null, status: "active" });
    expect((await readAs(k.key)).status).toBe(200);
    // A revoked key's expiry is not changed: 409.
    await call(api.base, "POST", `/v1/keys/${k.keyId}/revoke`, admin);
    const late = await call(api.base, "POST", `/v1/keys/${k.keyId}/expiry`, {
      ...admin,
      body: { expiresAt: null },
    });
    expect([late.status, late.body.error.code]).toEqual([409, "KEY_REVOKED"]);
    expect((await readAs(k.key)).status).toBe(401);
    const bad = await call(api.base, "POST", `/v1/keys/${k.keyId}/expiry`, {
      ...admin,
      body: { expiresAt: "soon" },
    });
    expect([bad.status, bad.body.error.field]).toEqual([400, "body.expiresAt"]);
  });
});

describe("cancelling a redemption", () => {
  it("only the key that made it, or an admin key, may cancel it; another key gets 403 and changes nothing", async () => {
    await seedLots(pool, "keys-c1", [{ points: 100, expiresAt: NOW + 100 * DAY }]);
    const a = await createKey({ name: "till-a", scopes: ["redeem"] });
    const b = await createKey({ name: "till-b", scopes: ["redeem"] });
    const redeem = (key: string, idem: string) =>
      call(api.base, "POST", "/v1/members/keys-c1/redemptions", {
        key,
        body: { points: 10 },
        headers: { "idempotency-key": idem },
      });
    const ra = await redeem(a.key, "c-1");
    expect(ra.status).toBe(201);
    const row = await pool.query<{ key_id: string }>(
      "select key_id from api_redemptions where redemption_id = $1",
      [ra.body.redemptionId],
    );
    expect(row.rows[0]?.key_id).toBe(a.keyId);
    const before = await ledgerDigest(pool);

    const cancel = (key: string, id: string) =>
      call(api.base, "POST", `/v1/members/keys-c1/redemptions/${id}/cancel`, { key });
    const byB = await cancel(b.key, ra.body.redemptionId);
    expect(byB.status).toBe(403);
    expect(byB.body.error).toMatchObject({ code: "REDEMPTION_FORBIDDEN", field: "headers.authorization" });
    expect(byB.body.error.message).toMatch(/made by another API key/);
    expect((await ledgerDigest(pool)).digest).toBe(before.digest);

    const byA = await cancel(a.key, ra.body.redemptionId);
    expect([byA.status, byA.body.status]).toEqual([200, "cancelled"]);
    // Once cancelled, the other key still learns nothing more than 403.
    expect((await cancel(b.key, ra.body.redemptionId)).status).toBe(403);

    const ra2 = await redeem(a.key, "c-2");
    const byAdmin = await cancel(ADMIN_KEY, ra2.body.redemptionId);
    expect([byAdmin.status, byAdmin.body.status]).toEqual([200, "cancelled"]);
    expect(await balanceOf(pool, "keys-c1")).toBe(100);
  });
});

describe("the per-IP limit before authentication", () => {
  it("a burst of random keys from one address costs at most the failure burst in queries; metrics count both", async () => {
    let queries = 0;
    const counting = new Proxy(pool, {
      get(target, prop, receiver) {
        if (prop === "query")
          return (...args: Parameters<Pool["query"]>) => {
            queries++;
            return (target.query as (...a: unknown[]) => unknown).apply(target, args);
          };
        return Reflect.get(target, prop, receiver);
      },
    });
    const metrics = new RuntimeMetrics("api");
    const keys = new KeyStore(counting, ADMIN_KEY);
    const app = buildServer({
      pool: counting,
      keys,
      limiter: new MemoryRateLimiter({ rate: 10_000, burst: 10_000 }),
      ipLimiter: new IpLimiter({ rate: 10_000, burst: 10_000, failureRate: 1, failureBurst: 10 }),
      security: securityMetrics(metrics),
      now: () => Date.now(),
      expiryMonths: 12,
      ledger: { request: async () => null },
      replyTimeoutMs: 50,
      logger: createLogger("api-test", "silent"),
    });
    try {
      const valid = await keys.create({ name: "other-address", scopes: ["read"] });
      queries = 0;
      const attacker = "203.0.113.7";
      const statuses = new Map<number, number>();
      const t0 = Date.now();
      for (let i = 0; i < 1_000; i++) {
        const res = await app.inject({
          method: "GET",
          url: "/v1/members/keys-m1",
          remoteAddress: attacker,
          headers: { authorization: `Bearer ${newKey().key}` },
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 429) expect(res.json().error.code).toBe("RATE_LIMITED");
      }
      const seconds = (Date.now() - t0) / 1000;
      // The failure bucket refills one token a second while the burst runs.
      const refills = Math.ceil(seconds);
      console.log(
        `1,000 random keys from one address in ${seconds.toFixed(2)} s: ${JSON.stringify(Object.fromEntries(statuses))}, ${queries} key queries`,
      );
      expect((statuses.get(401) ?? 0) + (statuses.get(429) ?? 0)).toBe(1_000);
      expect(statuses.get(401)).toBeLessThanOrEqual(10 + refills);
      expect(queries).toBe(statuses.get(401));

      const text = await metrics.registry.metrics();
      const value = (name: string, label: string) =>
        Number(
          text
            .split("\n")
            .find((l) => l.startsWith(`${name}{`) && l.includes(label))
            ?.split(" ")
            .pop() ?? 0,
        );
      expect(value("loyalty_http_auth_failures_total", 'reason="unknown"')).toBe(statuses.get(401));
      expect(value("loyalty_http_ip_limited_total", 'bucket="auth_failures"')).toBe(statuses.get(429));

      // Another address is not affected; its valid key reads.
      const ok = await app.inject({
        method: "GET",
        url: "/v1/members/keys-m1",
        remoteAddress: "198.51.100.9",
        headers: { authorization: `Bearer ${valid.key}` },
      });
      expect(ok.statusCode).toBe(200);
    } finally {
      await app.close();
      await keys.idle();
    }
  });
});

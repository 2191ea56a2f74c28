// The Redis token bucket with leases (src/http/rate-limit.ts) against the real Redis: instances
// take a share of the burst at once and spend it locally, yet together never admit more than the
// bucket holds, concurrent requests of one key ask Redis once, and a small burst keeps the
// per-request behaviour (api.int: two limiters with burst 3).
import { createRedis } from "@loyalty/db";
import { requireStack, testNamespace } from "@loyalty/testkit";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEASE_FRACTION, RedisRateLimiter } from "../../src/http/rate-limit.ts";

let redis: Redis;
const fail = (err: unknown) => {
  throw err;
};

beforeAll(async () => {
  const stack = await requireStack();
  redis = createRedis(stack.redisUrl, testNamespace());
});

afterAll(() => redis?.disconnect());

/** The client, counting the limiter's script calls made through it. */
function counting(): { client: Redis; calls: () => number } {
  let calls = 0;
  const client = new Proxy(redis, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== "function") return v;
      return (...a: unknown[]) => {
        if (prop === "loyaltyRateTake") calls++;
        return (v as (...x: unknown[]) => unknown).apply(target, a);
      };
    },
  });
  return { client, calls: () => calls };
}

describe("rate limiting with leases", () => {
  it("two instances alternating admit exactly the bucket, a lease at a time", async () => {
    // 40 tokens, refilled at one per 100 s: the test ends long before a token comes back.
    const opts = { rate: 0.01, burst: 40 };
    expect(Math.floor(opts.burst * LEASE_FRACTION)).toBe(2);
    const { client, calls } = counting();
    const a = new RedisRateLimiter(client, opts, fail);
    const b = new RedisRateLimiter(client, opts, fail);
    let allowed = 0;
    for (let i = 0; i < 20; i++) {
      for (const l of [a, b]) if ((await l.take("alt")).allowed) allowed++;
    }
    expect(allowed).toBe(40);
    // A round trip per lease of 2, not one per request.
    expect(calls()).toBe(20);
    const refused = await a.take("alt");
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
  });

  it("100 concurrent requests of one key on one instance: exactly the 40 tokens", async () => {
    const l = new RedisRateLimiter(redis, { rate: 0.01, burst: 40 }, fail);
    const seen = await Promise.all(Array.from({ length: 100 }, () => l.take("burst")));
    expect(seen.filter((d) => d.allowed).length).toBe(40);
  });

  it("a burst below 1 / LEASE_FRACTION leases one token: each request asks Redis", async () => {
    const a = new RedisRateLimiter(redis, { rate: 0.01, burst: 3 }, fail);
    const b = new RedisRateLimiter(redis, { rate: 0.01, burst: 3 }, fail);
    const seen = [await a.take("k"), await b.take("k"), await b.take("k"), await a.take("k")];
    expect(seen.map((d) => d.allowed)).toEqual([true, true, true, false]);
  });
});

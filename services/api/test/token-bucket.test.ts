import { describe, expect, it } from "vitest";
import { retryAfterSeconds, take } from "../src/domain/token-bucket.ts";
import { MemoryRateLimiter } from "../src/http/rate-limit.ts";

describe("token bucket", () => {
  const opts = { rate: 2, burst: 3 };
  it("allows a burst, then refuses until tokens refill at the rate", () => {
    let s = null;
    for (let i = 0; i < 3; i++) {
      const d = take(s, 1000, opts);
      expect(d.allowed).toBe(true);
      s = d.state;
    }
    const refused = take(s, 1000, opts);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(500);
    expect(take(refused.state, 1499, opts).allowed).toBe(false);
    expect(take(refused.state, 1500, opts).allowed).toBe(true);
  });

  it("never holds more than the burst", () => {
    const d = take({ tokens: 0, at: 0 }, 3_600_000, opts);
    expect(d.state.tokens).toBe(2);
  });

  it("does not go back in time", () => {
    const d = take({ tokens: 1, at: 5000 }, 1000, opts);
    expect(d.allowed).toBe(true);
    expect(d.state).toEqual({ tokens: 0, at: 5000 });
  });

  it("Retry-After is whole seconds, at least one", () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
  });

  it("the in-memory limiter keeps one bucket per key", async () => {
    let now = 0;
    const l = new MemoryRateLimiter({ rate: 1, burst: 1 }, () => now);
    expect((await l.take("a")).allowed).toBe(true);
    expect((await l.take("a")).allowed).toBe(false);
    expect((await l.take("b")).allowed).toBe(true);
    now = 1000;
    expect((await l.take("a")).allowed).toBe(true);
  });
});

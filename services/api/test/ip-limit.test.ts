// The per-IP limiter (pure, fake clock): the request bucket, the failure bucket that a request
// only peeks at, refills, independence of addresses, and the bounded map of addresses.
import { describe, expect, it } from "vitest";
import { IpLimiter } from "../src/http/ip-limit.ts";

const clock = () => {
  let t = 1_000_000;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
};

describe("IpLimiter", () => {
  it("spends a request token per admitted request and refills at the rate", () => {
    const c = clock();
    const l = new IpLimiter({ rate: 2, burst: 3, failureRate: 1, failureBurst: 5 }, c.now);
    expect([1, 2, 3].map(() => l.admit("a").allowed)).toEqual([true, true, true]);
    expect(l.admit("a")).toEqual({ allowed: false, retryAfterMs: 500, why: "requests" });
    expect(l.admit("b").allowed).toBe(true);
    c.advance(500);
    expect(l.admit("a").allowed).toBe(true);
    expect(l.admit("a").allowed).toBe(false);
  });

  it("refuses an address once its failures empty the failure bucket; requests alone never do", () => {
    const c = clock();
    const l = new IpLimiter({ rate: 1000, burst: 1000, failureRate: 1, failureBurst: 3 }, c.now);
    for (let i = 0; i < 100; i++) expect(l.admit("a").allowed).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(l.admit("a").allowed).toBe(true);
      l.failed("a");
    }
    expect(l.admit("a")).toEqual({ allowed: false, retryAfterMs: 1000, why: "auth_failures" });
    expect(l.admit("b").allowed).toBe(true);
    c.advance(1000);
    expect(l.admit("a").allowed).toBe(true);
    l.failed("a");
    expect(l.admit("a").allowed).toBe(false);
  });

  it("keeps at most maxIps addresses, forgetting the least recently seen", () => {
    const c = clock();
    const l = new IpLimiter({ rate: 1, burst: 1, failureRate: 1, failureBurst: 1 }, c.now, 2);
    expect(l.admit("a").allowed).toBe(true);
    expect(l.admit("b").allowed).toBe(true);
    expect(l.admit("a").allowed).toBe(false); // a is now the most recent
    expect(l.admit("c").allowed).toBe(true); // b forgotten
    expect(l.size).toBe(2);
    expect(l.admit("a").allowed).toBe(false);
    expect(l.admit("b").allowed).toBe(true); // b starts afresh
  });
});

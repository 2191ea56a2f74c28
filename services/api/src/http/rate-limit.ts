// Per-key rate limiting with a token bucket. The bucket lives in Redis (one hash per key, updated
// atomically by a Lua script on the server's clock), so several API instances share it. If Redis
// cannot answer, the instance falls back to its own in-memory buckets (the same arithmetic,
// src/domain/token-bucket.ts) rather than refusing or waving everything through.
//
// Leases: an instance takes up to LEASE_FRACTION of the burst from the shared bucket at once and
// spends it locally for at most LEASE_MS, so a busy key costs a Redis round trip per lease, not
// per request (`pnpm bench:api`: about a third of the API's CPU per balance read was the script
// call). Every request admitted spent a token taken from Redis, so the instances together never
// admit more than the bucket allows; tokens leased and not spent in time are lost (at most a
// lease per instance and key: a slightly stricter limit, never a looser one). With a burst under
// 1 / LEASE_FRACTION the lease is one token: exactly the per-request behaviour.
import type { Redis } from "ioredis";
import { type BucketState, take } from "../domain/token-bucket.ts";

export interface RateDecision {
  allowed: boolean;
  retryAfterMs: number;
}

export interface RateLimiter {
  take(keyId: string): Promise<RateDecision>;
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, BucketState>();
  constructor(
    private readonly opts: { rate: number; burst: number },
    private readonly now: () => number = Date.now,
  ) {}

  async take(keyId: string): Promise<RateDecision> {
    const d = take(this.buckets.get(keyId) ?? null, this.now(), this.opts);
    if (this.buckets.size > 100_000) this.buckets.clear();
    this.buckets.set(keyId, d.state);
    return { allowed: d.allowed, retryAfterMs: d.retryAfterMs };
  }
}

// Same arithmetic as take(): refill by elapsed × rate up to burst, spend one token.
const LUA = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3]) or 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(s[1])
local at = tonumber(s[2])
if tokens == nil or at == nil then tokens = burst; at = now end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate / 1000)
if now > at then at = now end
local allowed = 0
local retry = 0
if tokens >= 1 then
  allowed = math.min(want, math.floor(tokens))
  tokens = tokens - allowed
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}
`;

/** The share of a key's burst one instance takes from Redis at once. */
export const LEASE_FRACTION = 0.05;
/** How long leased tokens may be spent before they are dropped. */
export const LEASE_MS = 250;

type RateTake = (key: string, rate: number, burst: number, want: number) => Promise<unknown>;

export class RedisRateLimiter implements RateLimiter {
  private readonly fallback: MemoryRateLimiter;
  private readonly leases = new Map<string, { tokens: number; until: number }>();
  /** One script call per key at a time: concurrent requests share what it grants. */
  private readonly asking = new Map<string, Promise<RateDecision>>();
  private readonly lease: number;
  constructor(
    private readonly redis: Redis,
    private readonly opts: { rate: number; burst: number },
    private readonly onFallback: (err: unknown) => void = () => undefined,
  ) {
    this.fallback = new MemoryRateLimiter(opts);
    this.lease = Math.max(1, Math.floor(opts.burst * LEASE_FRACTION));
    if (!("loyaltyRateTake" in redis)) redis.defineCommand("loyaltyRateTake", { numberOfKeys: 1, lua: LUA });
  }

  async take(keyId: string): Promise<RateDecision> {
    for (;;) {
      const held = this.leases.get(keyId);
      if (held !== undefined && held.tokens >= 1 && Date.now() < held.until) {
        held.tokens -= 1;
        return { allowed: true, retryAfterMs: 0 };
      }
      const inFlight = this.asking.get(keyId);
      if (inFlight === undefined) break;
      // Another request of this key is asking Redis: spend from what it gets, or share its refusal.
      const d = await inFlight;
      if (!d.allowed) return d;
    }
    const asked = this.ask(keyId).finally(() => this.asking.delete(keyId));
    this.asking.set(keyId, asked);
    return asked;
  }

  private async ask(keyId: string): Promise<RateDecision> {
    try {
      // EVALSHA of the script (loaded once per connection by ioredis), not its text per request.
      const r = (await (this.redis as Redis & { loyaltyRateTake: RateTake }).loyaltyRateTake(
        `api:rate:${keyId}`,
        this.opts.rate,
        this.opts.burst,
        this.lease,
      )) as unknown;
      if (!Array.isArray(r) || typeof r[0] !== "number" || typeof r[1] !== "number")
        throw new Error("unexpected answer from the rate-limit script");
      if (r[0] < 1) return { allowed: false, retryAfterMs: r[1] };
      if (this.leases.size >= 10_000) this.leases.clear();
      // One token is this request's; the rest is the lease.
      this.leases.set(keyId, { tokens: r[0] - 1, until: Date.now() + LEASE_MS });
      return { allowed: true, retryAfterMs: 0 };
    } catch (err) {
      this.onFallback(err);
      // A fallback decision is this request's alone: nothing leased.
      this.leases.delete(keyId);
      return this.fallback.take(keyId);
    }
  }
}

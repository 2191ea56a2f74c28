// Per-key rate limiting with a token bucket. The bucket lives in Redis (one hash per key, updated
// atomically by a Lua script on the server's clock), so several API instances share it. If Redis
// cannot answer, the instance falls back to its own in-memory buckets (the same arithmetic,
// src/domain/token-bucket.ts) rather than refusing or waving everything through.
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
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}
`;

type RateTake = (key: string, rate: number, burst: number) => Promise<unknown>;

export class RedisRateLimiter implements RateLimiter {
  private readonly fallback: MemoryRateLimiter;
  constructor(
    private readonly redis: Redis,
    private readonly opts: { rate: number; burst: number },
    private readonly onFallback: (err: unknown) => void = () => undefined,
  ) {
    this.fallback = new MemoryRateLimiter(opts);
    if (!("loyaltyRateTake" in redis)) redis.defineCommand("loyaltyRateTake", { numberOfKeys: 1, lua: LUA });
  }

  async take(keyId: string): Promise<RateDecision> {
    try {
      // EVALSHA of the script (loaded once per connection by ioredis), not its text per request.
      const r = (await (this.redis as Redis & { loyaltyRateTake: RateTake }).loyaltyRateTake(
        `api:rate:${keyId}`,
        this.opts.rate,
        this.opts.burst,
      )) as unknown;
      if (!Array.isArray(r) || typeof r[0] !== "number" || typeof r[1] !== "number")
        throw new Error("unexpected answer from the rate-limit script");
      return { allowed: r[0] === 1, retryAfterMs: r[1] };
    } catch (err) {
      this.onFallback(err);
      return this.fallback.take(keyId);
    }
  }
}

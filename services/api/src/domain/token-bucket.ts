// Token bucket (pure): `rate` tokens per second refill up to `burst`. The Redis limiter runs the
// same arithmetic in a Lua script (src/http/rate-limit.ts); this one is the in-memory fallback
// and the reference the unit tests pin down.

export interface BucketState {
  tokens: number;
  /** Milliseconds of the last refill. */
  at: number;
}

export interface BucketDecision {
  allowed: boolean;
  state: BucketState;
  /** Milliseconds until one token is available (0 when allowed). */
  retryAfterMs: number;
}

export function take(
  state: BucketState | null,
  now: number,
  opts: { rate: number; burst: number },
  cost = 1,
): BucketDecision {
  if (opts.rate <= 0 || opts.burst < cost) throw new RangeError("rate must be > 0 and burst >= cost");
  const prev = state ?? { tokens: opts.burst, at: now };
  const elapsed = Math.max(0, now - prev.at);
  const tokens = Math.min(opts.burst, prev.tokens + (elapsed * opts.rate) / 1000);
  const at = Math.max(now, prev.at);
  if (tokens >= cost) return { allowed: true, state: { tokens: tokens - cost, at }, retryAfterMs: 0 };
  return {
    allowed: false,
    state: { tokens, at },
    retryAfterMs: Math.ceil(((cost - tokens) * 1000) / opts.rate),
  };
}

/** Retry-After is whole seconds, at least 1. */
export const retryAfterSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

// Per-client-IP limits that run BEFORE authentication, in memory (no Redis or PostgreSQL round
// trip: their point is to make a refused request cost nothing). Two token buckets per IP
// (src/domain/token-bucket.ts):
// - requests: every authenticated route's request spends one token (`rate`/s up to `burst`);
// - failures: every failed authentication spends one token; while the bucket is empty the IP's
//   requests are refused before the key is even looked at, so a burst of random keys costs at
//   most `failureBurst` key lookups and then `failureRate` per second.
// The buckets are per instance (N instances allow N times as much); the map of IPs is bounded,
// the least recently seen IP forgotten first.
import { type BucketState, take } from "../domain/token-bucket.ts";

export interface IpLimits {
  rate: number;
  burst: number;
  failureRate: number;
  failureBurst: number;
}

export type IpDecision =
  | { allowed: true }
  | { allowed: false; retryAfterMs: number; why: "requests" | "auth_failures" };

interface IpState {
  requests: BucketState | null;
  failures: BucketState | null;
}

export class IpLimiter {
  private readonly ips = new Map<string, IpState>();

  constructor(
    private readonly limits: IpLimits,
    private readonly now: () => number = Date.now,
    private readonly maxIps = 100_000,
  ) {}

  /** Whether a request from `ip` may go on to authentication; spends a request token if so. */
  admit(ip: string): IpDecision {
    const now = this.now();
    const s = this.state(ip);
    // Peek at the failure bucket: a full one is not spent by a request, only by a failure.
    const f = take(s.failures, now, { rate: this.limits.failureRate, burst: this.limits.failureBurst });
    if (!f.allowed) return { allowed: false, retryAfterMs: f.retryAfterMs, why: "auth_failures" };
    const r = take(s.requests, now, { rate: this.limits.rate, burst: this.limits.burst });
    s.requests = r.state;
    if (!r.allowed) return { allowed: false, retryAfterMs: r.retryAfterMs, why: "requests" };
    return { allowed: true };
  }

  /** A failed authentication from `ip`: spends a failure token. */
  failed(ip: string): void {
    const s = this.state(ip);
    s.failures = take(s.failures, this.now(), {
      rate: this.limits.failureRate,
      burst: this.limits.failureBurst,
    }).state;
  }

  /** How many IPs are tracked (bounded by maxIps). */
  get size(): number {
    return this.ips.size;
  }

  private state(ip: string): IpState {
    let s = this.ips.get(ip);
    if (s) {
      // Most recently seen last: the map's first entry is the one to forget.
      this.ips.delete(ip);
    } else {
      s = { requests: null, failures: null };
      if (this.ips.size >= this.maxIps) {
        const oldest = this.ips.keys().next();
        if (!oldest.done) this.ips.delete(oldest.value);
      }
    }
    this.ips.set(ip, s);
    return s;
  }
}

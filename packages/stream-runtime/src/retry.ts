import { setTimeout as sleep } from "node:timers/promises";
import { isRetriable } from "./errors.ts";

export interface RetryPolicy {
  retries: number;
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 8, initialMs: 100, maxMs: 10_000, factor: 2 };

/** "Full jitter": a random delay up to the exponential cap, so retrying clients spread out. */
export function backoffMs(attempt: number, p: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(p.maxMs, p.initialMs * p.factor ** attempt);
  return Math.floor(random() * cap);
}

/** Retries retriable failures with jittered backoff; permanent ones are thrown at once. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetriable(err) || attempt >= policy.retries) throw err;
      const delay = backoffMs(attempt, policy);
      onRetry?.(err, attempt + 1, delay);
      await sleep(delay);
    }
  }
}

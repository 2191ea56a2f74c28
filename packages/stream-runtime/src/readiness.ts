// Readiness: what /readyz checks. Each check answers within a time bound or counts as failed;
// a failed check is named in the 503, with a short reason that never carries a secret (a
// NotReadyError's own message, else only the error's code or name).
import type { Pool } from "@loyalty/db";
import type { Admin, Kafka } from "kafkajs";
import { LoyaltyError } from "./errors.ts";
import type { RuntimeMetrics } from "./metrics.ts";

/** A dependency that does not answer as it should; retriable: it may answer on the next probe. */
export class NotReadyError extends LoyaltyError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

export interface ReadinessCheck {
  readonly name: string;
  /** Resolves (with details for the body, if any) when ready; throws when not. */
  readonly check: () => Promise<Record<string, unknown> | undefined>;
}

export interface CheckOutcome {
  ok: boolean;
  error?: string;
  [detail: string]: unknown;
}

export interface Readiness {
  status: "ready" | "unavailable";
  /** Names of the checks that failed, in the order they are listed. */
  failing: string[];
  checks: Record<string, CheckOutcome>;
}

function reasonOf(err: unknown): string {
  if (err instanceof NotReadyError) return err.message;
  if (typeof err === "object" && err !== null) {
    const e = err as { code?: unknown; name?: unknown };
    if (typeof e.code === "string") return e.code;
    if (typeof e.name === "string") return e.name;
  }
  return "failed";
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NotReadyError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Runs every check at once, each bounded by timeoutMs. */
export async function checkReadiness(
  checks: readonly ReadinessCheck[],
  timeoutMs: number,
): Promise<Readiness> {
  const outcomes = await Promise.all(
    checks.map(async (c): Promise<[string, CheckOutcome]> => {
      try {
        const details = await within(timeoutMs, c.name, c.check());
        return [c.name, { ok: true, ...details }];
      } catch (err) {
        return [c.name, { ok: false, error: reasonOf(err) }];
      }
    }),
  );
  const failing = outcomes.filter(([, o]) => !o.ok).map(([name]) => name);
  return { status: failing.length ? "unavailable" : "ready", failing, checks: Object.fromEntries(outcomes) };
}

/**
 * At most one call of `fn` at a time: a probe while the last one is still waiting (a database
 * that accepts connections but never answers) shares it instead of queueing another.
 */
export function singleFlight<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => {
    pending ??= fn().finally(() => {
      pending = null;
    });
    return pending;
  };
}

/** PostgreSQL answers `select 1` through the service's own pool. */
export function postgresCheck(pool: Pool): ReadinessCheck {
  return {
    name: "postgres",
    check: singleFlight(async () => {
      await pool.query("select 1");
      return undefined;
    }),
  };
}

/** The service's consumer is connected and in its group, and has not crashed. */
export function consumerCheck(runner: { readonly isHealthy: boolean }): ReadinessCheck {
  return {
    name: "kafka",
    check: async () => {
      if (!runner.isHealthy)
        throw new NotReadyError("consumer is not in its group (joining, rebalancing or crashed)");
      return undefined;
    },
  };
}

/** Kafka answers a metadata request (for a process without a consumer); the admin is kept connected. */
export function kafkaAdminCheck(kafka: Kafka): ReadinessCheck & { close(): Promise<void> } {
  let admin: Admin | null = null;
  return {
    name: "kafka",
    check: singleFlight(async () => {
      admin ??= kafka.admin();
      await admin.connect();
      const cluster = await admin.describeCluster();
      return { brokers: cluster.brokers.length };
    }),
    close: async () => {
      await admin?.disconnect();
      admin = null;
    },
  };
}

/**
 * The largest partition lag the consumer last reported (loyalty_consumer_lag) is at most maxLag;
 * 0 disables the bound (a replay or a backlog is not a reason to leave a load balancer).
 */
export function lagCheck(metrics: RuntimeMetrics, maxLag: number): ReadinessCheck {
  return {
    name: "lag",
    check: async () => {
      const values = (await metrics.lag.get()).values;
      const lag = values.reduce((max, v) => Math.max(max, v.value), 0);
      if (maxLag > 0 && lag > maxLag)
        throw new NotReadyError(`consumer lag ${lag} is above READY_MAX_CONSUMER_LAG ${maxLag}`);
      return { lag, max: maxLag === 0 ? null : maxLag };
    },
  };
}

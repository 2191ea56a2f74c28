import { type Pool, type PoolClient, inTransaction } from "@loyalty/db";

export type Db = Pool | PoolClient;

export const isUniqueViolation = (err: unknown): boolean =>
  typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";

/** Runs fn in a transaction, again on a deadlock or serialisation failure (a few times). */
export function transaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>, attempts = 4): Promise<T> {
  return inTransaction(pool, fn, { attempts });
}

export const iso = (ms: number) => new Date(ms).toISOString();

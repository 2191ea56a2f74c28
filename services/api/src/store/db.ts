import type { Pool, PoolClient } from "@loyalty/db";

export type Db = Pool | PoolClient;

export const isUniqueViolation = (err: unknown): boolean =>
  typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";

const RETRY_CODES = new Set(["40001", "40P01"]);

/** Runs fn in a transaction, again on a deadlock or serialisation failure (a few times). */
export async function transaction<T>(
  pool: Pool,
  fn: (c: PoolClient) => Promise<T>,
  attempts = 4,
): Promise<T> {
  for (let i = 1; ; i++) {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const out = await fn(client);
      await client.query("commit");
      return out;
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      const code = (err as { code?: unknown }).code;
      if (i >= attempts || typeof code !== "string" || !RETRY_CODES.has(code)) throw err;
    } finally {
      client.release();
    }
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();

// The PostgreSQL set-up of this package's int tests: a pool on a schema of the test's own, on a
// server reached at DATABASE_URL (failing with how to start it), dropped again by `drop`.
import { probePostgres, testEndpointsFromEnv } from "@loyalty/local-stack";
import { createPool, ensureDatabase } from "../src/index.ts";

export async function schemaPool(
  prefix: string,
): Promise<{ pool: ReturnType<typeof createPool>; drop: () => Promise<void> }> {
  const server = testEndpointsFromEnv().databaseUrl;
  const schema = `${prefix}_${process.pid}`;
  const p = await probePostgres(server);
  if (!p.ok)
    throw new Error(`PostgreSQL is unreachable at ${server} (${p.detail}): start it or set DATABASE_URL`);
  // The test owns its set-up: on a server that has never seen the project the database is new.
  await ensureDatabase(server);
  const admin = createPool(server, { max: 1 });
  await admin.query(`create schema if not exists ${schema}`);
  await admin.end();
  const pool = createPool(server, { max: 2, namespace: schema });
  return {
    pool,
    drop: async () => {
      await pool.query(`drop schema if exists ${schema} cascade`);
      await pool.end();
    },
  };
}

import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations/", import.meta.url));

export interface Migration {
  id: string;
  sql: string;
  checksum: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => {
      const sql = readFileSync(`${dir}${f}`, "utf8");
      return { id: f.replace(/\.sql$/, ""), sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

/** Creates the database named in the URL when the server does not have it yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!/^[a-z_][a-z0-9_]*$/.test(name))
    throw new Error(`DATABASE_URL names database '${name}': use [a-z_][a-z0-9_]*`);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const exists = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (exists.rowCount === 0) {
      // Identifiers cannot be parameters; the name was checked against a strict pattern above.
      await client.query(`create database ${name}`).catch((err: { code?: string }) => {
        // Created concurrently by another process: 42P04, or 23505 when both passed the
        // catalogue check at once (seen on a fresh server with five services booting).
        if (err.code !== "42P04" && err.code !== "23505") throw err;
      });
    }
  } finally {
    await client.end();
  }
}

const LOCK_KEY = 7_340_001; // advisory lock: one migrator at a time across services

/** Applies pending migrations in order, once; refuses to run if an applied one was edited. */
export async function migrate(
  databaseUrl: string,
  migrations = loadMigrations(),
  namespace = "",
): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    if (namespace !== "") {
      if (!/^[a-z][a-z0-9_]{0,30}$/.test(namespace))
        throw new Error(`namespace '${namespace}' is not a valid schema name`);
      // Identifiers cannot be parameters; the name was checked against a strict pattern.
      await client.query(`create schema if not exists ${namespace}`);
      await client.query(`set search_path = ${namespace}`);
    }
    await client.query(
      "create table if not exists schema_migrations (id text primary key, checksum text not null, applied_at timestamptz not null default now())",
    );
    const done = new Map(
      (
        await client.query<{ id: string; checksum: string }>("select id, checksum from schema_migrations")
      ).rows.map((r) => [r.id, r.checksum]),
    );
    for (const m of migrations) {
      const prior = done.get(m.id);
      if (prior !== undefined) {
        if (prior !== m.checksum)
          throw new Error(`migration ${m.id} was changed after it was applied; add a new migration instead`);
        continue;
      }
      await client.query("begin");
      try {
        await client.query(m.sql);
        await client.query("insert into schema_migrations (id, checksum) values ($1, $2)", [
          m.id,
          m.checksum,
        ]);
        await client.query("commit");
        applied.push(m.id);
      } catch (err) {
        await client.query("rollback");
        throw new Error(`migration ${m.id} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
  return applied;
}

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probePostgres, testEndpointsFromEnv } from "@loyalty/local-stack";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase, loadMigrations, migrate } from "../src/index.ts";

const server = testEndpointsFromEnv().databaseUrl;

beforeAll(async () => {
  const p = await probePostgres(server);
  if (!p.ok)
    throw new Error(`PostgreSQL is unreachable at ${server} (${p.detail}): start it or set DATABASE_URL`);
});

describe("migrations", () => {
  it("create the database, apply once, and refuse an edited migration", async () => {
    const url = new URL(server);
    url.pathname = `/loyalty_migrate_${process.pid}`;
    const dir = `${mkdtempSync(join(tmpdir(), "migr-"))}/`;
    writeFileSync(`${dir}001_a.sql`, "create table a (id int primary key);");
    writeFileSync(`${dir}002_b.sql`, "create table b (id int primary key);");
    try {
      expect(await migrate(url.toString(), loadMigrations(dir))).toEqual(["001_a", "002_b"]);
      expect(await migrate(url.toString(), loadMigrations(dir))).toEqual([]);
      writeFileSync(`${dir}002_b.sql`, "create table b (id bigint primary key);");
      await expect(migrate(url.toString(), loadMigrations(dir))).rejects.toThrow(
        /002_b was changed after it was applied/,
      );
      // A failing migration leaves nothing half-applied.
      writeFileSync(`${dir}002_b.sql`, "create table b (id int primary key);");
      writeFileSync(`${dir}003_bad.sql`, "create table c (id int); select 1/0;");
      await expect(migrate(url.toString(), loadMigrations(dir))).rejects.toThrow(/003_bad failed/);
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      const t = await c.query("select to_regclass('c') as c");
      await c.end();
      expect(t.rows[0].c).toBeNull();
    } finally {
      const admin = new pg.Client({ connectionString: server.replace(/\/[^/]*$/, "/postgres") });
      await admin.connect();
      await admin.query(`drop database if exists loyalty_migrate_${process.pid}`);
      await admin.end();
    }
  });

  it("create the database once when several services boot at the same moment", async () => {
    const name = `loyalty_race_${process.pid}`;
    const url = new URL(server);
    url.pathname = `/${name}`;
    const admin = new pg.Client({ connectionString: server.replace(/\/[^/]*$/, "/postgres") });
    await admin.connect();
    try {
      for (let round = 0; round < 5; round++) {
        await admin.query(`drop database if exists ${name}`);
        await Promise.all(Array.from({ length: 6 }, () => ensureDatabase(url.toString())));
        const r = await admin.query("select count(*)::int as n from pg_database where datname = $1", [name]);
        expect(r.rows[0].n).toBe(1);
      }
    } finally {
      await admin.query(`drop database if exists ${name}`);
      await admin.end();
    }
  });

  it("ship only well-named files", () => {
    const ids = loadMigrations().map((m) => m.id);
    expect(ids[0]).toBe("001_runtime");
    expect(new Set(ids).size).toBe(ids.length);
  });
});

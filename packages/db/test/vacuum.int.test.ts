import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Vacuumer, type createPool } from "../src/index.ts";
import { schemaPool } from "./schema-pool.ts";

let pool: ReturnType<typeof createPool>;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ pool, drop } = await schemaPool("vac"));
  await pool.query("create table v (id int primary key)");
});

afterAll(async () => {
  await drop?.();
});

// reltuples is the planner's row count: -1 until the table is first analysed.
// Sessions report their row counts to the statistics system asynchronously: wait for them.
const reported = async (
  table: string,
  rows: number,
  counter: "n_mod_since_analyze" | "n_dead_tup" = "n_mod_since_analyze",
) => {
  for (let i = 0; i < 100; i++) {
    const r = await pool.query<{ n: number }>(
      `select ${counter}::int as n from pg_stat_user_tables where relname = $1 and schemaname = current_schema()`,
      [table],
    );
    if ((r.rows[0]?.n ?? 0) >= rows) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the statistics system never saw ${rows} of ${counter} on ${table}`);
};
const plannerRows = async () =>
  (await pool.query<{ n: number }>("select reltuples::int as n from pg_class where oid = 'v'::regclass"))
    .rows[0]?.n;

describe("Vacuumer", () => {
  it("analyses its tables in the background, at most once per interval", async () => {
    await pool.query("insert into v select generate_series(1, 1000)");
    await reported("v", 1000);
    expect(await plannerRows()).toBe(-1);
    const v = new Vacuumer(pool, ["v"], 60_000, (err) => {
      throw err;
    });
    v.kick();
    await v.idle();
    expect(await plannerRows()).toBe(1000);

    await pool.query("insert into v select generate_series(1001, 3000)");
    v.kick(); // within the interval: nothing
    await v.idle();
    expect(await plannerRows()).toBe(1000);
  });

  it("leaves alone a table that has not changed enough since its last pass", async () => {
    await pool.query("create table u (id int primary key)");
    await pool.query("insert into u select generate_series(1, 1000)");
    await reported("u", 1000);
    const v = new Vacuumer(pool, ["u"], 1, (err) => {
      throw err;
    });
    v.kick();
    await v.idle();
    const analysed = async () =>
      (
        await pool.query<{ n: number }>(
          "select analyze_count::int + vacuum_count::int as n from pg_stat_user_tables where relname = 'u' and schemaname = current_schema()",
        )
      ).rows[0]?.n;
    const after = await analysed();
    expect(after).toBeGreaterThan(0);
    await pool.query("insert into u select generate_series(1001, 1010)"); // 1 %: under the threshold
    await reported("u", 10);
    await new Promise((res) => setTimeout(res, 5));
    v.kick();
    await v.idle();
    expect(await analysed()).toBe(after);
  });

  it("vacuums for dead rows only, and analyses again once the changes outnumber the rows", async () => {
    await pool.query("create table g (id int primary key, n int not null default 0)");
    await pool.query("insert into g select generate_series(1, 10000)");
    await reported("g", 10_000);
    const v = new Vacuumer(pool, ["g"], 1, (err) => {
      throw err;
    });
    const counts = async () => {
      const r = await pool.query<{ vacuums: number; analyses: number }>(
        `select vacuum_count::int as vacuums, analyze_count::int as analyses from pg_stat_user_tables
          where relname = 'g' and schemaname = current_schema()`,
      );
      return r.rows[0];
    };
    const pass = async () => {
      await new Promise((res) => setTimeout(res, 5));
      v.kick();
      await v.idle();
      return counts();
    };
    expect(await pass()).toEqual({ vacuums: 0, analyses: 1 }); // never analysed

    // 50 % more rows: past autovacuum's insert and analyse thresholds, not past ours.
    await pool.query("insert into g select generate_series(10001, 15000)");
    await reported("g", 5_000);
    expect(await pass()).toEqual({ vacuums: 0, analyses: 1 });

    // Changes since the last analyse (11,000) now outnumber the rows it saw (10,000).
    await pool.query("insert into g select generate_series(15001, 21000)");
    await reported("g", 11_000);
    expect(await pass()).toEqual({ vacuums: 0, analyses: 2 });

    // Every row rewritten: dead rows past 20 % of the live ones.
    await pool.query("update g set n = n + 1");
    await reported("g", 21_000, "n_dead_tup");
    expect(await pass()).toEqual({ vacuums: 1, analyses: 3 });
  });

  it("does nothing with an interval of 0, and refuses a table name that is not plain", async () => {
    await pool.query("create table w (id int)");
    await pool.query("insert into w select generate_series(1, 10)");
    const off = new Vacuumer(pool, ["w"], 0, () => undefined);
    off.kick();
    await off.idle();
    const r = await pool.query<{ n: number }>(
      "select reltuples::int as n from pg_class where oid = 'w'::regclass",
    );
    expect(r.rows[0]?.n).toBe(-1);
    expect(() => new Vacuumer(pool, ["w; drop table v"], 1000, () => undefined)).toThrow(
      /not a plain table name/,
    );
  });
});

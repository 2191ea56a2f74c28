// `prepared`: one server-side statement per text and connection, parsed once and run by name.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type createPool, prepared } from "../src/index.ts";
import { schemaPool } from "./schema-pool.ts";

let pool: ReturnType<typeof createPool>;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ pool, drop } = await schemaPool("prepared"));
  await pool.query("create table t (id text primary key, n bigint not null)");
  await pool.query("insert into t select 'k' || i, i from generate_series(1, 100) as i");
});

afterAll(async () => {
  await drop?.();
});

describe("prepared", () => {
  it("names a text the same way every time, and two texts differently", () => {
    const a = "select n from t where id = any($1)";
    expect(prepared(a)).toEqual(prepared(a));
    expect(prepared(a).text).toBe(a);
    expect(prepared(`${a} order by n`).name).not.toBe(prepared(a).name);
    expect(prepared(a).name).toMatch(/^loyalty_[0-9a-f]{20}$/);
  });

  it("is parsed once per connection and run by name with each call's values", async () => {
    const q = prepared("select id, n from t where id = any($1) order by id");
    const c = await pool.connect();
    try {
      const first = await c.query(q, [["k1", "k2"]]);
      const second = await c.query(q, [["k3", "k40", "nope"]]);
      expect(first.rows).toEqual([
        { id: "k1", n: 1 },
        { id: "k2", n: 2 },
      ]);
      expect(second.rows).toEqual([
        { id: "k3", n: 3 },
        { id: "k40", n: 40 },
      ]);
      // One server-side statement of that name on this connection, executed twice.
      const s = await c.query<{ statement: string; runs: number }>(
        "select statement, (generic_plans + custom_plans)::int as runs from pg_prepared_statements where name = $1",
        [q.name],
      );
      expect(s.rows).toEqual([{ statement: q.text, runs: 2 }]);
    } finally {
      c.release();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CopyUpsertError, copyRows, copyUpsert, type createPool } from "../src/index.ts";
import { schemaPool } from "./schema-pool.ts";

let pool: ReturnType<typeof createPool>;
let drop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ pool, drop } = await schemaPool("copy"));
  await pool.query(
    "create table t (id text primary key, n bigint, at timestamptz, ok boolean, doc jsonb, seq bigserial)",
  );
});

afterAll(async () => {
  await drop?.();
});

describe("copyRows", () => {
  it("round-trips awkward text, NULLs, bigints, times and JSON, in the order given", async () => {
    const awkward = 'tab\there, newline\nthere, cr\r, backslash \\ and \\N, quote " ünï ✓';
    const doc = { note: awkward, nested: { list: [1, "two", null] } };
    const rows = [
      ["a", 1, new Date(Date.UTC(1997, 0, 1, 0, 0, 0, 1)), true, doc],
      ["b", -9_007_199_254_740_991, null, false, null],
      [awkward, null, "1998-06-30T00:00:00.000Z", null, [awkward]],
    ] as const;
    const c = await pool.connect();
    try {
      await c.query("begin");
      await copyRows(c, "t", ["id", "n", "at", "ok", "doc"], rows);
      await c.query("commit");
    } finally {
      c.release();
    }
    const got = await pool.query("select id, n, at, ok, doc from t order by seq");
    expect(got.rows).toEqual([
      { id: "a", n: 1, at: new Date(Date.UTC(1997, 0, 1, 0, 0, 0, 1)), ok: true, doc },
      { id: "b", n: -9_007_199_254_740_991, at: null, ok: false, doc: null },
      { id: awkward, n: null, at: new Date("1998-06-30T00:00:00.000Z"), ok: null, doc: [awkward] },
    ]);
  });

  it("fails with unique_violation on a duplicate key and leaves nothing of the statement", async () => {
    const c = await pool.connect();
    try {
      await c.query("begin");
      const err = await copyRows(c, "t", ["id"], [["fresh"], ["a"]]).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe("23505");
      await c.query("rollback");
    } finally {
      c.release();
    }
    const n = await pool.query("select count(*)::int as n from t where id = 'fresh'");
    expect(n.rows[0].n).toBe(0);
  });

  it("refuses a name that is not a plain identifier, and a row of the wrong width", async () => {
    const c = await pool.connect();
    try {
      await expect(copyRows(c, "t; drop table t", ["id"], [["x"]])).rejects.toThrow(TypeError);
      await expect(copyRows(c, "t", ["id", "n"], [["x"]])).rejects.toThrow(/1 values for 2 columns/);
    } finally {
      c.release();
    }
  });
});

describe("copyUpsert", () => {
  it("inserts new rows and updates existing ones with the caller's set clause, in a transaction", async () => {
    await pool.query(
      "create table u (id text primary key, n bigint not null, doc jsonb, hits int not null default 0)",
    );
    await pool.query(`insert into u (id, n, doc) values ('old', 1, '{"v": 1}')`);
    const c = await pool.connect();
    try {
      await c.query("begin");
      await copyUpsert(
        c,
        "u",
        ["id", "n", "doc"],
        [
          ["old", 2, { v: "tab\there" }],
          ["new", 3, null],
        ],
        {
          key: ["id"],
          set: "n = excluded.n, doc = excluded.doc, hits = u.hits + 1",
        },
      );
      await c.query("commit");
      // The staging table is emptied at commit: a second batch sees only its own rows.
      await c.query("begin");
      await copyUpsert(c, "u", ["id", "n", "doc"], [["new", 4, [1]]], {
        key: ["id"],
        set: "n = excluded.n, doc = excluded.doc, hits = u.hits + 1",
      });
      await c.query("commit");
    } finally {
      c.release();
    }
    const got = await pool.query("select id, n, doc, hits from u order by id");
    expect(got.rows).toEqual([
      { id: "new", n: 4, doc: [1], hits: 1 },
      { id: "old", n: 2, doc: { v: "tab\there" }, hits: 1 },
    ]);
  });

  it("throws rather than lose rows when run outside a transaction", async () => {
    const c = await pool.connect();
    try {
      await expect(
        copyUpsert(c, "u", ["id", "n"], [["lost", 5]], { key: ["id"], set: "n = excluded.n" }),
      ).rejects.toThrow(CopyUpsertError);
    } finally {
      c.release();
    }
  });
});

// `loyalty ledger verify` finds what the schema no longer rejects: lot movements carry no
// foreign keys (migration 202), so a movement naming no entry or no lot must show up here.
import { createPool, loadMigrations, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLedger } from "../../src/store/verify.ts";

let stack: TestStack;
let pool: Pool;

beforeAll(async () => {
  stack = await requireStack();
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  // One member, one earn of 40 points into one lot: consistent.
  await pool.query(
    `insert into ledger_entries (entry_id, member_id, kind, points, balance_after, source_event_id, event_time)
     values ('e1', 'm1', 'earn', 40, 40, 'src-1', now())`,
  );
  await pool.query(
    `insert into ledger_lots (lot_id, member_id, points, remaining, earned_at, expires_at)
     values ('e1', 'm1', 40, 40, now(), now() + interval '1 year')`,
  );
  await pool.query("insert into ledger_balances (member_id, balance) values ('m1', 40)");
});

afterAll(async () => {
  await pool?.end();
});

describe("ledger verify", () => {
  it("finds nothing wrong in a consistent ledger", async () => {
    const r = await verifyLedger(pool);
    expect(r).toMatchObject({ members: 1, entries: 1, totalPoints: 40, differences: [] });
  });

  it("reports movements that name no entry or no lot", async () => {
    await pool.query(
      "insert into ledger_lot_movements (entry_id, lot_id, points) values ('no-such-entry', 'e1', 0), ('e1', 'no-such-lot', -3)",
    );
    const r = await verifyLedger(pool);
    expect(r.differences.filter((d) => d.check === "movement-orphan")).toEqual([
      { check: "movement-orphan", id: "e1/no-such-lot", expected: 0, actual: -3 },
      { check: "movement-orphan", id: "no-such-entry/e1", expected: 0, actual: 0 },
    ]);
  });
});

describe("migration 206 (the creating entry's movement dropped)", () => {
  it("leaves a ledger written with earn movements consistent under the new invariant", async () => {
    const ns = testNamespace();
    const all = loadMigrations();
    await migrate(
      stack.databaseUrl,
      all.filter((m) => m.id < "206"),
      ns,
    );
    const old = createPool(stack.databaseUrl, { max: 1, namespace: ns });
    try {
      // As written before 206: an earn of 40 (+40 movement into its own lot), 15 of it redeemed,
      // and an API adjustment's lot inserted empty and filled by its own +10 movement.
      await old.query(
        `insert into ledger_entries (entry_id, member_id, kind, points, balance_after, source_event_id, event_time)
         values ('e1', 'm1', 'earn', 40, 40, 'src-1', now()), ('r1', 'm1', 'redeem', -15, 25, 'red-1', now()),
                ('a1', 'm1', 'adjust', 10, 35, 'adj-1', now())`,
      );
      await old.query(
        `insert into ledger_lots (lot_id, member_id, points, remaining, earned_at, expires_at)
         values ('e1', 'm1', 40, 25, now(), now() + interval '1 year'),
                ('a1', 'm1', 10, 10, now(), now() + interval '1 year')`,
      );
      await old.query(
        "insert into ledger_lot_movements (entry_id, lot_id, points) values ('e1', 'e1', 40), ('r1', 'e1', -15), ('a1', 'a1', 10)",
      );
      await old.query("insert into ledger_balances (member_id, balance) values ('m1', 35)");
      expect((await verifyLedger(old)).differences.map((d) => [d.check, d.id])).toEqual([
        ["lot-vs-movements", "a1"],
        ["lot-vs-movements", "e1"],
      ]);

      await migrate(stack.databaseUrl, all, ns);
      expect(await verifyLedger(old)).toMatchObject({ entries: 3, totalPoints: 35, differences: [] });
      const left = await old.query("select entry_id, lot_id, points from ledger_lot_movements");
      expect(left.rows).toEqual([{ entry_id: "r1", lot_id: "e1", points: -15 }]);
    } finally {
      await old.end();
    }
  });
});

// The expiry job and the rules engine both lock balance rows. A member the engine holds is
// skipped at first and expired at the end of the same pass, after the others have committed:
// the job does not hold a chunk of members while it waits for one.
import type { Pool } from "@loyalty/db";
import { verifyLedger } from "@loyalty/rules-engine";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import { expireDue } from "../../src/store/ledger.ts";
import { DAY, balanceOf, lotsOf, namespacePool, seedLots, waitFor } from "./helpers.ts";

let stack: TestStack;
let pool: Pool;

beforeAll(async () => {
  stack = await requireStack();
  pool = await namespacePool(stack, testNamespace());
});

afterAll(async () => {
  await pool?.end();
});

it("expires the members nobody holds first, then waits for the one held", async () => {
  const now = Date.UTC(1998, 0, 1);
  for (const m of ["lk-a", "lk-b", "lk-c"])
    await seedLots(pool, m, [
      { points: 30, expiresAt: now - DAY },
      { points: 12, expiresAt: now + 30 * DAY },
    ]);
  const holder = await pool.connect();
  let pass: Promise<number> | undefined;
  try {
    await holder.query("begin");
    await holder.query("select 1 from ledger_balances where member_id = 'lk-b' for update");
    pass = expireDue(pool, now, 2);
    // a and c are committed while b is still held.
    await waitFor(
      "lk-a and lk-c expired",
      async () => [await balanceOf(pool, "lk-a"), await balanceOf(pool, "lk-c")],
      (b) => b[0] === 12 && b[1] === 12,
    );
    expect(await balanceOf(pool, "lk-b")).toBe(42);
  } finally {
    await holder.query("commit");
    holder.release();
  }
  expect(await pass).toBe(3);
  expect(await balanceOf(pool, "lk-b")).toBe(12);
  for (const m of ["lk-a", "lk-b", "lk-c"])
    expect([...(await lotsOf(pool, m)).values()].map((l) => l.remaining).sort()).toEqual([0, 12]);
  expect((await verifyLedger(pool)).differences).toEqual([]);
});

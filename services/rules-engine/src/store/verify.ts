import type { Pool } from "@loyalty/db";

// The ledger's invariants, checked in SQL (`pnpm loyalty ledger verify`):
//   1. balances.balance = sum(entries.points) per member (a member with entries has a balance row);
//   2. balances.balance = sum(open lots.remaining) - balances.debt;
//   3. each lot's remaining = its points + the sum of its lot movements (the earn has none);
//   4. every movement names an existing entry and lot (no foreign keys: migration 202).

export interface LedgerDifference {
  check: "balance-vs-entries" | "balance-vs-lots" | "lot-vs-movements" | "movement-orphan";
  id: string;
  expected: number;
  actual: number;
}

export interface LedgerReport {
  members: number;
  entries: number;
  totalPoints: number;
  differences: LedgerDifference[];
}

export async function verifyLedger(pool: Pool, limit = 100): Promise<LedgerReport> {
  const counts = await pool.query<{ members: number; entries: number; total: number }>(
    `select (select count(*) from ledger_balances)::bigint as members,
            (select count(*) from ledger_entries)::bigint as entries,
            (select coalesce(sum(balance), 0) from ledger_balances)::bigint as total`,
  );
  const differences: LedgerDifference[] = [];
  const entries = await pool.query<{ member_id: string; expected: number; actual: number }>(
    `select coalesce(e.member_id, b.member_id) as member_id, coalesce(e.total, 0)::bigint as expected,
            coalesce(b.balance, 0)::bigint as actual
       from (select member_id, sum(points) as total from ledger_entries group by member_id) e
       full join ledger_balances b on b.member_id = e.member_id
      where coalesce(e.total, 0) <> coalesce(b.balance, 0) or (b.member_id is null)
      order by 1 limit $1`,
    [limit],
  );
  for (const r of entries.rows)
    differences.push({
      check: "balance-vs-entries",
      id: r.member_id,
      expected: r.expected,
      actual: r.actual,
    });
  const lots = await pool.query<{ member_id: string; expected: number; actual: number }>(
    `select b.member_id, (coalesce(l.remaining, 0) - b.debt)::bigint as expected, b.balance as actual
       from ledger_balances b
       left join (select member_id, sum(remaining) as remaining from ledger_lots group by member_id) l
         on l.member_id = b.member_id
      where coalesce(l.remaining, 0) - b.debt <> b.balance
      order by 1 limit $1`,
    [limit],
  );
  for (const r of lots.rows)
    differences.push({ check: "balance-vs-lots", id: r.member_id, expected: r.expected, actual: r.actual });
  const mv = await pool.query<{ lot_id: string; expected: number; actual: number }>(
    `select l.lot_id, (l.points + coalesce(m.total, 0))::bigint as expected, l.remaining as actual
       from ledger_lots l
       left join (select lot_id, sum(points) as total from ledger_lot_movements group by lot_id) m on m.lot_id = l.lot_id
      where l.points + coalesce(m.total, 0) <> l.remaining
      order by 1 limit $1`,
    [limit],
  );
  for (const r of mv.rows)
    differences.push({ check: "lot-vs-movements", id: r.lot_id, expected: r.expected, actual: r.actual });
  const orphans = await pool.query<{ entry_id: string; lot_id: string; points: number }>(
    `select m.entry_id, m.lot_id, m.points from ledger_lot_movements m
      where not exists (select 1 from ledger_entries e where e.entry_id = m.entry_id)
         or not exists (select 1 from ledger_lots l where l.lot_id = m.lot_id)
      order by 1, 2 limit $1`,
    [limit],
  );
  // expected 0 points moved by a movement that belongs to nothing; actual what it moved.
  for (const r of orphans.rows)
    differences.push({
      check: "movement-orphan",
      id: `${r.entry_id}/${r.lot_id}`,
      expected: 0,
      actual: r.points,
    });
  const c = counts.rows[0];
  return { members: c?.members ?? 0, entries: c?.entries ?? 0, totalPoints: c?.total ?? 0, differences };
}

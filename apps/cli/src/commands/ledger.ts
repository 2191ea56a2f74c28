// `pnpm loyalty ledger verify|balance MEMBER`: checks on the points ledger (services/rules-engine).
//   verify           balance = sum(entries) and = sum(open lots) - debt for every member, and every
//                    lot's remaining = its movements; prints each difference; exit 1 on any
//   balance MEMBER   balance, open lots and the last entries of one member
// DATABASE_URL and LOYALTY_NAMESPACE select the database and the namespace's schema.
import { createPool } from "@loyalty/db";
import { endpointsFromEnv } from "@loyalty/local-stack";
import { verifyLedger } from "@loyalty/rules-engine";

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const pool = createPool(endpointsFromEnv().databaseUrl, {
    max: 2,
    namespace: process.env.LOYALTY_NAMESPACE ?? "",
  });
  try {
    switch (sub) {
      case "verify": {
        const r = await verifyLedger(pool);
        for (const d of r.differences)
          console.log(`DIFFERENCE ${d.check} ${d.id}: expected ${d.expected}, found ${d.actual}`);
        console.log(
          `${r.members} member balance(s), ${r.entries} entries, ${r.totalPoints} points outstanding: ` +
            (r.differences.length === 0 ? "ledger consistent" : `${r.differences.length} difference(s)`),
        );
        return r.differences.length === 0 ? 0 : 1;
      }
      case "balance": {
        const member = rest[0];
        if (!member) break;
        const b = await pool.query(
          "select balance, debt, shortfall from ledger_balances where member_id = $1",
          [member],
        );
        const row = b.rows[0];
        console.log(
          row
            ? `${member}: balance ${row.balance} (debt ${row.debt}, shortfall ${row.shortfall})`
            : `${member}: no balance`,
        );
        const lots = await pool.query(
          "select lot_id, points, remaining, expires_at from ledger_lots where member_id = $1 and remaining > 0 order by expires_at",
          [member],
        );
        for (const l of lots.rows)
          console.log(`  lot ${l.lot_id}: ${l.remaining}/${l.points}, expires ${l.expires_at.toISOString()}`);
        const entries = await pool.query(
          `select kind, points, balance_after, rule_id, rule_version, source_event_id, event_time
             from ledger_entries where member_id = $1 order by seq desc limit 20`,
          [member],
        );
        for (const e of entries.rows.reverse())
          console.log(
            `  ${e.event_time.toISOString()} ${e.kind} ${e.points} -> ${e.balance_after} ${e.rule_id ?? "-"}@${e.rule_version ?? "-"} (${e.source_event_id})`,
          );
        return 0;
      }
    }
    console.error("usage: pnpm loyalty ledger verify | balance MEMBER");
    return 2;
  } catch (err) {
    console.error(`loyalty ledger ${sub}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await pool.end();
  }
}

// `loyalty ledger verify|balance`: checks on the points ledger (services/rules-engine).
//   verify           balance = sum(entries) and = sum(open lots) - debt for every member, and every
//                    lot's remaining = its movements; lists each difference; exit 1 on any
//   balance MEMBER   balance, open lots and the last entries of one member
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { CheckFailedError, EXIT, NotFoundError } from "../errors.ts";
import { ledgerFigures } from "../figures.ts";

export async function verify(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const r = await withPool(ctx, (pool) => ledgerFigures(pool));
  if (opts.json) printJson(ctx, r);
  else {
    for (const d of r.differences)
      ctx.out(`DIFFERENCE ${d.check} ${d.id}: expected ${d.expected}, found ${d.actual}`);
    ctx.out(
      `${r.members} member balance(s), ${r.entries} entries, ${r.pointsIssued} points issued, ` +
        `${r.pointsOutstanding} outstanding: ` +
        (r.consistent ? "ledger consistent" : `${r.differences.length} difference(s)`),
    );
  }
  if (!r.consistent) throw new CheckFailedError(`ledger verify: ${r.differences.length} difference(s)`);
  return EXIT.ok;
}

interface BalanceRow {
  balance: number;
  debt: number;
  shortfall: number;
}
interface LotRow {
  lot_id: string;
  points: number;
  remaining: number;
  expires_at: Date;
}
interface EntryRow {
  kind: string;
  points: number;
  balance_after: number;
  rule_id: string | null;
  rule_version: number | null;
  source_event_id: string;
  event_time: Date;
}

export async function balance(ctx: CliContext, member: string, opts: { json?: boolean }): Promise<number> {
  const { row, lots, entries } = await withPool(ctx, async (pool) => {
    const b = await pool.query<BalanceRow>(
      "select balance, debt, shortfall from ledger_balances where member_id = $1",
      [member],
    );
    const l = await pool.query<LotRow>(
      "select lot_id, points, remaining, expires_at from ledger_lots where member_id = $1 and remaining > 0 order by expires_at",
      [member],
    );
    const e = await pool.query<EntryRow>(
      `select kind, points, balance_after, rule_id, rule_version, source_event_id, event_time
         from ledger_entries where member_id = $1 order by seq desc limit 20`,
      [member],
    );
    return { row: b.rows[0], lots: l.rows, entries: e.rows.reverse() };
  });
  if (!row) throw new NotFoundError(`member ${member} has no ledger balance`);
  if (opts.json) {
    printJson(ctx, {
      memberId: member,
      ...row,
      openLots: lots.map((x) => ({
        lotId: x.lot_id,
        points: x.points,
        remaining: x.remaining,
        expiresAt: x.expires_at.toISOString(),
      })),
      lastEntries: entries.map((x) => ({
        kind: x.kind,
        points: x.points,
        balanceAfter: x.balance_after,
        ruleId: x.rule_id,
        ruleVersion: x.rule_version,
        sourceEventId: x.source_event_id,
        eventTime: x.event_time.toISOString(),
      })),
    });
    return EXIT.ok;
  }
  ctx.out(`${member}: balance ${row.balance} (debt ${row.debt}, shortfall ${row.shortfall})`);
  for (const x of lots)
    ctx.out(`  lot ${x.lot_id}: ${x.remaining}/${x.points}, expires ${x.expires_at.toISOString()}`);
  for (const x of entries)
    ctx.out(
      `  ${x.event_time.toISOString()} ${x.kind} ${x.points} -> ${x.balance_after} ${x.rule_id ?? "-"}@${x.rule_version ?? "-"} (${x.source_event_id})`,
    );
  return EXIT.ok;
}

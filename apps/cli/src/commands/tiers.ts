// `loyalty tiers stats`: members per tier, from the tier evaluator's PostgreSQL state.
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { EXIT } from "../errors.ts";
import { type TierFigures, tierFigures } from "../figures.ts";

export async function stats(ctx: CliContext, opts: { at?: number; json?: boolean }): Promise<number> {
  const report = await withPool(ctx, (pool) => tierFigures(pool, opts.at));
  if (opts.json) printJson(ctx, { namespace: ctx.env.LOYALTY_NAMESPACE ?? "", ...report });
  else ctx.out(formatTiers(report));
  return EXIT.ok;
}

export function formatTiers(report: TierFigures): string {
  const width = Math.max(...Object.keys(report.counts).map((k) => k.length), 8);
  const lines = [`tiers at ${report.atIso} (${report.atSource}), metric ${report.metric}`];
  for (const [tier, n] of Object.entries(report.counts)) {
    const pct = report.members ? ((100 * n) / report.members).toFixed(2) : "0.00";
    lines.push(`  ${tier.padEnd(width)} ${String(n).padStart(9)}  ${pct.padStart(6)}%`);
  }
  if (report.unknown) lines.push(`  ${"unknown".padEnd(width)} ${String(report.unknown).padStart(9)}`);
  if (report.notJoined)
    lines.push(`  ${"not yet".padEnd(width)} ${String(report.notJoined).padStart(9)}  (joined later)`);
  lines.push(`  ${"members".padEnd(width)} ${String(report.members).padStart(9)}`);
  return lines.join("\n");
}

// `loyalty churn model|report`: the churn model as the churn-alert service fitted it (PostgreSQL).
import {
  type ChurnSettings,
  type FitRecord,
  churnConfigSchema,
  fitAsOf,
  listFits,
  requestRefit,
  settingsFrom,
} from "@loyalty/churn-alert";
import { loadConfig } from "@loyalty/stream-runtime";
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { EXIT, UsageError } from "../errors.ts";
import { type ChurnFigures, churnFigures } from "../figures.ts";

const iso = (t: number) => new Date(t).toISOString().replace(".000Z", "Z");

/** The churn-alert service's settings (threshold, horizon...) from the same variables it reads. */
export function churnSettings(ctx: CliContext): ChurnSettings {
  try {
    return settingsFrom(loadConfig(churnConfigSchema, ctx.env));
  } catch (err) {
    throw new UsageError(`churn settings: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function describeFit(f: FitRecord, inForce: boolean): string {
  const p = f.bgnbd;
  const gg = f.gammaGamma;
  return [
    `${f.modelVersion}${inForce ? "  (in force)" : ""}`,
    `  trigger ${f.trigger}, fitted at ${iso(f.fittedAt)} (event time), calibration to ${iso(f.calibrationEnd).slice(0, 10)}, unit ${f.unitMs / 86_400_000} d`,
    `  BG/NBD  r=${p.r.toFixed(4)} alpha=${p.alpha.toFixed(4)} a=${p.a.toFixed(4)} b=${p.b.toFixed(4)}`,
    `          log-likelihood ${f.logLikelihood.toFixed(2)}, ${f.members} members (${f.groups} distinct rows), ${f.converged ? "converged" : "NOT converged"} in ${f.iterations} iterations`,
    gg === null
      ? "  Gamma-Gamma  not fitted"
      : `  Gamma-Gamma  p=${gg.p.toFixed(4)} q=${gg.q.toFixed(4)} gamma=${gg.gamma.toFixed(2)}, log-likelihood ${gg.logLikelihood.toFixed(2)}, ${gg.members} members`,
  ].join("\n");
}

export function formatChurn(r: ChurnFigures, settings: ChurnSettings): string {
  const lines = [
    `as of ${r.asOf === null ? "-" : iso(r.asOf)}, model ${r.modelVersion ?? "none"}`,
    `${r.members} members, ${r.belowThreshold} with P(alive) < ${settings.threshold}`,
  ];
  for (const [s, n] of Object.entries(r.segments).sort((p, q) => q[1] - p[1]))
    lines.push(`  ${s.padEnd(20)} ${n}`);
  lines.push(`${r.alerts} alerts: ${JSON.stringify(r.alertsByActionLevel)}`);
  return lines.join("\n");
}

export async function report(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const settings = churnSettings(ctx);
  const r = await withPool(ctx, (pool) => churnFigures(pool, settings));
  if (opts.json) printJson(ctx, r);
  else ctx.out(formatChurn(r, settings));
  return EXIT.ok;
}

export async function model(
  ctx: CliContext,
  opts: { json?: boolean; all?: boolean; refit?: boolean; asOf?: number },
): Promise<number> {
  if (opts.asOf !== undefined && !opts.refit)
    throw new UsageError(
      "--as-of goes with --refit (a fit as of that day); without --refit it means nothing",
    );
  const settings = churnSettings(ctx);
  return withPool(ctx, async (pool) => {
    if (opts.refit && opts.asOf !== undefined) {
      const fit = await fitAsOf(pool, opts.asOf, settings);
      ctx.out(opts.json ? JSON.stringify(fit, null, 2) : describeFit(fit, false));
      return EXIT.ok;
    }
    if (opts.refit) {
      const id = await requestRefit(pool);
      if (opts.json) printJson(ctx, { requested: id });
      else ctx.out(`refit #${id} requested: the service refits at its event-time frontier on its next step`);
      return EXIT.ok;
    }
    const engine = await pool.query<{ model_version: string | null }>(
      "select model_version from churn_engine",
    );
    const inForce = engine.rows[0]?.model_version ?? null;
    const fits = await listFits(pool, opts.all ? 100_000 : 20);
    const ordered = [
      ...fits.filter((f) => f.modelVersion === inForce),
      ...fits.filter((f) => f.modelVersion !== inForce),
    ];
    if (opts.json) printJson(ctx, { inForce, fits: ordered });
    else if (ordered.length === 0) ctx.out("no churn model fitted yet");
    else ctx.out(ordered.map((f) => describeFit(f, f.modelVersion === inForce)).join("\n\n"));
    return EXIT.ok;
  });
}

// `loyalty churn model|report|calibrate`: the churn model as the churn-alert service fitted it
// (PostgreSQL), and how a fit on a calibration period predicts the holdout period after it.
import {
  type CalibrationReport,
  CalibrationRequestError,
  type ChurnSettings,
  type FitRecord,
  calibrationReport,
  churnConfigSchema,
  fitAsOf,
  listFits,
  requestRefit,
  settingsFrom,
} from "@loyalty/churn-alert";
import { loadConfig } from "@loyalty/stream-runtime";
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { EXIT, NotFoundError, UsageError } from "../errors.ts";
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
    f.accepted ? "  accepted: may drive alerts" : `  REJECTED: ${f.rejectedReason ?? "no reason recorded"}`,
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

const fixed = (v: number | null, digits: number) => (v === null ? "-" : v.toFixed(digits));
const unitName = (days: number) => (days === 7 ? "weeks" : days === 1 ? "days" : `units of ${days} days`);

/** The report as a marketer reads it: per calibration frequency, actual against predicted. */
export function formatCalibration(r: CalibrationReport): string {
  const p = r.fit.params;
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const holdoutStart = day(Date.parse(`${r.calibrationEnd}T00:00:00Z`) + 86_400_000);
  const t = Number(r.holdoutLength.toFixed(4));
  const lines = [
    "Churn model calibration: BG/NBD fitted on the calibration period, checked on the holdout",
    `  calibration: purchases up to and including ${r.calibrationEnd}, ${r.totals.members} members`,
    `  holdout:     ${holdoutStart} to ${r.holdoutEnd} (${t} ${unitName(r.unitDays)})`,
    `  fit:         r ${p.r.toFixed(4)}, alpha ${p.alpha.toFixed(4)}, a ${p.a.toFixed(4)}, b ${p.b.toFixed(4)}` +
      ` (log-likelihood ${r.fit.logLikelihood.toFixed(2)}, ${r.fit.converged ? "converged" : "NOT converged"})`,
    "",
    "  repeat purchases        holdout purchases per member    holdout purchases in total",
    "  in calibration   members        actual     predicted          actual     predicted",
  ];
  const row = (label: string, members: number, am: number | null, em: number | null, a: number, e: number) =>
    `  ${label.padEnd(14)} ${String(members).padStart(9)} ${fixed(am, 3).padStart(13)} ${fixed(em, 3).padStart(13)} ${String(a).padStart(15)} ${e.toFixed(1).padStart(13)}`;
  for (const b of r.byFrequency)
    lines.push(row(b.label, b.members, b.actualMean, b.expectedMean, b.actual, b.expected));
  const n = r.totals.members;
  lines.push(
    row(
      "all",
      n,
      n > 0 ? r.totals.actual / n : null,
      n > 0 ? r.totals.expected / n : null,
      r.totals.actual,
      r.totals.expected,
    ),
  );
  if (r.totals.relativeError !== null) {
    const pct = Math.abs(r.totals.relativeError * 100).toFixed(1);
    lines.push(
      "",
      `  The model predicts ${r.totals.expected.toFixed(0)} holdout purchases against ${r.totals.actual} made: ${pct}% ${r.totals.relativeError < 0 ? "below" : "above"}.`,
    );
  }
  lines.push("  A purchase is a purchase day; the first purchase day of a member is not a repeat purchase.");
  if (r.laterMembers > 0)
    lines.push(
      `  ${r.laterMembers} members whose first purchase came after ${r.calibrationEnd} are not in the report.`,
    );
  if (!r.holdoutReached)
    lines.push(
      `  Warning: the engine has seen events only up to ${r.frontier === null ? "nothing yet" : iso(r.frontier)}; the holdout's actual figures may be short.`,
    );
  return lines.join("\n");
}

export async function calibrate(
  ctx: CliContext,
  opts: { calibrationEnd: number; holdoutEnd: number; json?: boolean },
): Promise<number> {
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const periods = { calibrationEnd: day(opts.calibrationEnd), holdoutEnd: day(opts.holdoutEnd) };
  if (opts.holdoutEnd <= opts.calibrationEnd)
    throw new UsageError(
      `--holdout-end (${periods.holdoutEnd}) must come after --calibration-end (${periods.calibrationEnd})`,
    );
  const settings = churnSettings(ctx);
  const r = await withPool(ctx, (pool) =>
    calibrationReport(pool, periods, settings).catch((err: unknown) => {
      if (err instanceof CalibrationRequestError && err.field === null) throw new NotFoundError(err.message);
      throw err;
    }),
  );
  if (opts.json) printJson(ctx, r);
  else ctx.out(formatCalibration(r));
  return EXIT.ok;
}

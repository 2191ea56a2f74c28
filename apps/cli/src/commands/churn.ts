// `pnpm loyalty churn …`: the churn model as the churn-alert service fitted it (from PostgreSQL).
//   churn model [--json] [--all]                  fits stored by the service, the one in force first
//   churn model --refit --as-of YYYY-MM-DD [--json] fit as of the end of that day from members' state
//   churn model --refit [--json]                  ask the running service to refit at its frontier
//   churn report [--json]                         members by segment and alerts, at the frontier
import {
  type FitRecord,
  churnConfigSchema,
  fitAsOf,
  listFits,
  populationReport,
  requestRefit,
  settingsFrom,
} from "@loyalty/churn-alert";
import { createPool, migrate } from "@loyalty/db";
import { loadConfig } from "@loyalty/stream-runtime";

const USAGE = `usage: loyalty churn model [--json] [--all] [--refit [--as-of YYYY-MM-DD]]
       loyalty churn report [--json]`;

const iso = (t: number) => new Date(t).toISOString().replace(".000Z", "Z");

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

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const flags = new Set(rest.filter((a) => a.startsWith("--")));
  const json = flags.has("--json");
  const asOfIdx = rest.indexOf("--as-of");
  const asOfText = asOfIdx >= 0 ? rest[asOfIdx + 1] : undefined;
  if ((sub !== "model" && sub !== "report") || (asOfIdx >= 0 && asOfText === undefined)) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig(churnConfigSchema);
  const settings = settingsFrom(config);
  await migrate(config.DATABASE_URL, undefined, config.LOYALTY_NAMESPACE);
  const pool = createPool(config.DATABASE_URL, { max: 2, namespace: config.LOYALTY_NAMESPACE });
  try {
    if (sub === "report") {
      const r = await populationReport(pool, settings);
      if (json) console.log(JSON.stringify(r, null, 2));
      else {
        console.log(`as of ${r.asOf === null ? "-" : iso(r.asOf)}, model ${r.modelVersion ?? "none"}`);
        console.log(`${r.members} members, ${r.belowThreshold} with P(alive) < ${settings.threshold}`);
        for (const [s, n] of Object.entries(r.segments).sort((p, q) => q[1] - p[1]))
          console.log(`  ${s.padEnd(20)} ${n}`);
        console.log(`${r.alerts} alerts: ${JSON.stringify(r.alertsByActionLevel)}`);
      }
      return 0;
    }
    if (flags.has("--refit")) {
      if (asOfText !== undefined) {
        if (!/^\d{4}-\d{2}-\d{2}$/.test(asOfText) || Number.isNaN(Date.parse(`${asOfText}T00:00:00Z`))) {
          console.error(`--as-of wants a date YYYY-MM-DD, got '${asOfText}'`);
          return 2;
        }
        const fit = await fitAsOf(pool, Date.parse(`${asOfText}T00:00:00Z`), settings);
        console.log(json ? JSON.stringify(fit, null, 2) : describeFit(fit, false));
        return 0;
      }
      const id = await requestRefit(pool);
      console.log(
        json
          ? JSON.stringify({ requested: id })
          : `refit #${id} requested: the service refits at its event-time frontier on its next step`,
      );
      return 0;
    }
    const engine = await pool.query<{ model_version: string | null }>(
      "select model_version from churn_engine",
    );
    const inForce = engine.rows[0]?.model_version ?? null;
    const fits = await listFits(pool, flags.has("--all") ? 100_000 : 20);
    const ordered = [
      ...fits.filter((f) => f.modelVersion === inForce),
      ...fits.filter((f) => f.modelVersion !== inForce),
    ];
    if (json) console.log(JSON.stringify({ inForce, fits: ordered }, null, 2));
    else if (ordered.length === 0) console.log("no churn model fitted yet");
    else console.log(ordered.map((f) => describeFit(f, f.modelVersion === inForce)).join("\n\n"));
    return 0;
  } finally {
    await pool.end();
  }
}

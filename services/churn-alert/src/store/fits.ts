// Fitted models: every fit is kept (parameters, log-likelihood, members, event time, version),
// rejected ones too, with the reason they may not drive alerts (migration 407).

import { type PoolClient, prepared } from "@loyalty/db";
import type { Pool } from "pg";
import type { ActiveModel } from "../engine/member.ts";
import type { PopulationFit } from "../engine/refit.ts";
import type { RfmReference } from "../engine/rfm-reference.ts";

type Db = PoolClient | Pool;
export type FitTrigger = "schedule" | "on-demand" | "as-of";

export interface FitRecord {
  readonly modelVersion: string;
  readonly trigger: FitTrigger;
  /** Event time the fit was made at (and, for scheduled fits, is in force from). */
  readonly fittedAt: number;
  /** Last observed day (start, UTC ms of the wall-clock day): T is measured to it. */
  readonly calibrationEnd: number;
  readonly unitMs: number;
  readonly bgnbd: { readonly r: number; readonly alpha: number; readonly a: number; readonly b: number };
  readonly logLikelihood: number;
  readonly members: number;
  readonly groups: number;
  readonly converged: boolean;
  readonly iterations: number;
  readonly gammaGamma: {
    readonly p: number;
    readonly q: number;
    readonly gamma: number;
    readonly logLikelihood: number;
    readonly members: number;
  } | null;
  readonly rfm: RfmReference;
  /** May drive alerts; a rejected fit never comes in force. */
  readonly accepted: boolean;
  /** Why not, when rejected (null when accepted). */
  readonly rejectedReason: string | null;
}

export async function insertFit(
  c: Db,
  version: string,
  trigger: FitTrigger,
  fittedAt: number,
  unitMs: number,
  fit: PopulationFit,
): Promise<void> {
  const { bg, gg } = fit;
  await c.query(
    prepared(`insert into churn_fits (model_version, trigger, fitted_at, calibration_end, unit_ms, r, alpha, a, b,
       log_likelihood, members, groups, converged, iterations, gg_p, gg_q, gg_gamma, gg_log_likelihood,
       gg_members, rfm, accepted, rejected_reason)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
       $22)
     on conflict (model_version) do update set fitted_at = excluded.fitted_at,
       calibration_end = excluded.calibration_end, unit_ms = excluded.unit_ms, r = excluded.r,
       alpha = excluded.alpha, a = excluded.a, b = excluded.b, log_likelihood = excluded.log_likelihood,
       members = excluded.members, groups = excluded.groups, converged = excluded.converged,
       iterations = excluded.iterations, gg_p = excluded.gg_p, gg_q = excluded.gg_q,
       gg_gamma = excluded.gg_gamma, gg_log_likelihood = excluded.gg_log_likelihood,
       gg_members = excluded.gg_members, rfm = excluded.rfm, accepted = excluded.accepted,
       rejected_reason = excluded.rejected_reason, created_at = now()`),
    [
      version,
      trigger,
      fittedAt,
      fit.calibrationEnd,
      unitMs,
      bg.params.r,
      bg.params.alpha,
      bg.params.a,
      bg.params.b,
      bg.logLikelihood,
      bg.members,
      bg.groups,
      bg.converged,
      bg.iterations,
      gg?.params.p ?? null,
      gg?.params.q ?? null,
      gg?.params.gamma ?? null,
      gg?.logLikelihood ?? null,
      gg?.members ?? null,
      JSON.stringify(fit.rfm),
      fit.verdict.accepted,
      fit.verdict.rejectedReason,
    ],
  );
}

interface FitDbRow {
  model_version: string;
  trigger: FitTrigger;
  fitted_at: number;
  calibration_end: number;
  unit_ms: number;
  r: number;
  alpha: number;
  a: number;
  b: number;
  log_likelihood: number;
  members: number;
  groups: number;
  converged: boolean;
  iterations: number;
  gg_p: number | null;
  gg_q: number | null;
  gg_gamma: number | null;
  gg_log_likelihood: number | null;
  gg_members: number | null;
  rfm: RfmReference;
  accepted: boolean;
  rejected_reason: string | null;
}

function toRecord(f: FitDbRow): FitRecord {
  return {
    modelVersion: f.model_version,
    trigger: f.trigger,
    fittedAt: f.fitted_at,
    calibrationEnd: f.calibration_end,
    unitMs: f.unit_ms,
    bgnbd: { r: f.r, alpha: f.alpha, a: f.a, b: f.b },
    logLikelihood: f.log_likelihood,
    members: f.members,
    groups: f.groups,
    converged: f.converged,
    iterations: f.iterations,
    gammaGamma:
      f.gg_p === null || f.gg_q === null || f.gg_gamma === null
        ? null
        : {
            p: f.gg_p,
            q: f.gg_q,
            gamma: f.gg_gamma,
            logLikelihood: f.gg_log_likelihood ?? Number.NaN,
            members: f.gg_members ?? 0,
          },
    rfm: f.rfm,
    accepted: f.accepted,
    rejectedReason: f.rejected_reason,
  };
}

export async function loadFit(c: Db, version: string): Promise<FitRecord | null> {
  const r = await c.query<FitDbRow>(prepared("select * from churn_fits where model_version = $1"), [version]);
  const row = r.rows[0];
  return row === undefined ? null : toRecord(row);
}

/** Most recent fits first (by event time, then creation). */
export async function listFits(c: Db, limit = 20): Promise<FitRecord[]> {
  const r = await c.query<FitDbRow>(
    prepared("select * from churn_fits order by fitted_at desc, created_at desc limit $1"),
    [limit],
  );
  return r.rows.map(toRecord);
}

export function modelOf(f: FitRecord): ActiveModel {
  const gg = f.gammaGamma !== null && f.gammaGamma.q > 1 ? f.gammaGamma : null;
  return {
    version: f.modelVersion,
    bg: f.bgnbd,
    gg: gg === null ? null : { p: gg.p, q: gg.q, gamma: gg.gamma },
    rfm: f.rfm,
  };
}

export async function loadModel(c: Db, version: string | null): Promise<ActiveModel | null> {
  if (version === null) return null;
  const f = await loadFit(c, version);
  return f === null ? null : modelOf(f);
}

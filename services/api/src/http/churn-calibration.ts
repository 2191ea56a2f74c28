// GET /v1/churn/calibration: the churn model's calibration report, as the churn-alert service
// computes it from its own tables and serves it on its ops server (GET /calibration). The API
// reads none of churn-alert's tables: it forwards the validated query and maps the answer onto
// its error contract (churn-alert not configured or not answering: 503 UNAVAILABLE).
import type { FastifyInstance } from "fastify";
import { ApiError } from "../domain/errors.ts";
import { type ChurnAlertLink, askChurnAlert, unavailable } from "./churn-alert-link.ts";
import { ROUTES } from "./schemas.ts";

export type { ChurnAlertLink };

type CalibrationQuery = { calibrationEnd: string; holdoutEnd: string };

const realDay = (s: string) => {
  const t = Date.parse(`${s}T00:00:00Z`);
  return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== s ? null : t;
};

/** Days the schema's pattern lets through that are no dates, or a holdout not after calibration. */
function checkDays(q: CalibrationQuery): void {
  const c = realDay(q.calibrationEnd);
  if (c === null)
    throw new ApiError(
      "VALIDATION_FAILED",
      `querystring.calibrationEnd is not a date: ${q.calibrationEnd}`,
      "querystring.calibrationEnd",
    );
  const h = realDay(q.holdoutEnd);
  if (h === null)
    throw new ApiError(
      "VALIDATION_FAILED",
      `querystring.holdoutEnd is not a date: ${q.holdoutEnd}`,
      "querystring.holdoutEnd",
    );
  if (h <= c)
    throw new ApiError(
      "VALIDATION_FAILED",
      "querystring.holdoutEnd must come after querystring.calibrationEnd",
      "querystring.holdoutEnd",
    );
}

/** churn-alert's answer → the report, or the API error it stands for. */
export async function fetchCalibration(link: ChurnAlertLink, q: CalibrationQuery): Promise<unknown> {
  const a = await askChurnAlert(link, "/calibration", q, "the churn calibration report");
  if (a.status === 200 && a.body !== null) return a.body;
  if (a.status === 422) throw new ApiError("CALIBRATION_NO_DATA", a.error.message);
  if (a.status === 400) {
    const f = a.error.field;
    const field = typeof f === "string" ? f.replace(/^query\./, "querystring.") : undefined;
    throw new ApiError("VALIDATION_FAILED", a.error.message, field);
  }
  throw unavailable(link, a);
}

export function registerChurnCalibration(app: FastifyInstance, link: ChurnAlertLink): void {
  const r = ROUTES.churnCalibration;
  app.route<{ Querystring: CalibrationQuery }>({
    method: r.method,
    url: r.url,
    schema: r.schema,
    config: { scope: r.scope },
    handler: async (req) => {
      checkDays(req.query);
      return fetchCalibration(link, req.query);
    },
  });
}

// GET /v1/churn/calibration: the churn model's calibration report, as the churn-alert service
// computes it from its own tables and serves it on its ops server (GET /calibration). The API
// reads none of churn-alert's tables: it forwards the validated query and maps the answer onto
// its error contract (churn-alert not configured or not answering: 503 UNAVAILABLE).
import type { FastifyInstance } from "fastify";
import { ApiError } from "../domain/errors.ts";
import { ROUTES } from "./schemas.ts";

export interface ChurnAlertLink {
  /** Base URL of churn-alert's ops server (CHURN_ALERT_URL), e.g. http://127.0.0.1:9104; null: not configured. */
  readonly url: string | null;
  /** How long to wait for the report (a refit over every member), ms. */
  readonly timeoutMs: number;
}

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

interface OpsError {
  error?: { code?: unknown; message?: unknown; field?: unknown };
}

/** churn-alert's answer → the report, or the API error it stands for. */
export async function fetchCalibration(link: ChurnAlertLink, q: CalibrationQuery): Promise<unknown> {
  if (link.url === null)
    throw new ApiError(
      "UNAVAILABLE",
      "the churn calibration report comes from churn-alert, and CHURN_ALERT_URL is not set",
    );
  const url = new URL("/calibration", link.url);
  url.searchParams.set("calibrationEnd", q.calibrationEnd);
  url.searchParams.set("holdoutEnd", q.holdoutEnd);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(link.timeoutMs) });
  } catch (err) {
    const why =
      err instanceof Error && err.name === "TimeoutError"
        ? `no answer within ${link.timeoutMs} ms`
        : "unreachable";
    throw new ApiError("UNAVAILABLE", `churn-alert at ${link.url} is ${why}; retry`);
  }
  const body = (await res.json().catch(() => null)) as unknown;
  if (res.status === 200 && body !== null) return body;
  const e = ((body ?? {}) as OpsError).error ?? {};
  const message = typeof e.message === "string" ? e.message : `churn-alert answered ${res.status}`;
  if (res.status === 422) throw new ApiError("CALIBRATION_NO_DATA", message);
  if (res.status === 400) {
    const field = typeof e.field === "string" ? e.field.replace(/^query\./, "querystring.") : undefined;
    throw new ApiError("VALIDATION_FAILED", message, field);
  }
  // 404: an older churn-alert without the route; 5xx: its failure, retriable or not.
  throw new ApiError("UNAVAILABLE", `churn-alert at ${link.url} answered ${res.status}: ${message}`);
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

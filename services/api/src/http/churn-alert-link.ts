// The member API's one way to ask churn-alert's ops server something (the calibration report, a
// member's churn card): a GET with a timeout, its transport failures as 503 UNAVAILABLE, and its
// error body read once. Each route maps the statuses it knows; everything else is UNAVAILABLE.
import { ApiError } from "../domain/errors.ts";

export interface ChurnAlertLink {
  /** Base URL of churn-alert's ops server (CHURN_ALERT_URL), e.g. http://127.0.0.1:9104; null: not configured. */
  readonly url: string | null;
  /** How long to wait for an answer (the calibration report is a refit over every member), ms. */
  readonly timeoutMs: number;
}

export interface OpsAnswer {
  status: number;
  /** The JSON body, null when there was none or it was not JSON. */
  body: unknown;
  /** The body's `error` fields (an ops error), with a message in every case. */
  error: { code?: unknown; field?: unknown; message: string };
}

/** GET `path` with `query` on churn-alert; `what` names the data in the not-configured error. */
export async function askChurnAlert(
  link: ChurnAlertLink,
  path: string,
  query: Record<string, string>,
  what: string,
): Promise<OpsAnswer> {
  if (link.url === null)
    throw new ApiError("UNAVAILABLE", `${what} comes from churn-alert, and CHURN_ALERT_URL is not set`);
  const url = new URL(path, link.url);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
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
  const e = (((body ?? {}) as { error?: unknown }).error ?? {}) as Record<string, unknown>;
  return {
    status: res.status,
    body,
    error: {
      code: e.code,
      field: e.field,
      message: typeof e.message === "string" ? e.message : `churn-alert answered ${res.status}`,
    },
  };
}

/** A status no route maps: churn-alert's failure (5xx), or an older churn-alert without the route (404). */
export function unavailable(link: ChurnAlertLink, a: OpsAnswer): ApiError {
  return new ApiError("UNAVAILABLE", `churn-alert at ${link.url} answered ${a.status}: ${a.error.message}`);
}

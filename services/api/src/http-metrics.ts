// Prometheus metrics of the member API's HTTP surface, added to the Fastify instance by the
// composition root: requests by route template, method and status, and their duration. The
// route is the template (`/v1/members/:memberId/balance`), never the URL, so member ids do not
// become label values; requests no route matched share one label value.
import type { RuntimeMetrics } from "@loyalty/stream-runtime";
import type { FastifyInstance } from "fastify";

export const UNMATCHED_ROUTE = "unmatched";

export function instrumentHttp(app: FastifyInstance, metrics: RuntimeMetrics): void {
  const requests = metrics.counter(
    "loyalty_http_requests_total",
    "HTTP requests answered by the member API, by route template, method and status",
    ["route", "method", "status"],
  );
  const seconds = metrics.histogram(
    "loyalty_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route template and method",
    ["route", "method"],
  );
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    seconds.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
}

/** What the HTTP layer reports about refused clients (server.ts calls these; main.ts counts them). */
export interface SecurityEvents {
  /** A request on an authenticated route without a usable key (reason: missing, malformed, unknown, ...). */
  authFailed(reason: string): void;
  /** A request refused by the per-IP limit before authentication (why: requests, auth_failures). */
  ipLimited(why: string): void;
}

export const NO_SECURITY_EVENTS: SecurityEvents = { authFailed: () => undefined, ipLimited: () => undefined };

/** The two counters behind SecurityEvents, in the service's metrics registry. */
export function securityMetrics(metrics: RuntimeMetrics): SecurityEvents {
  const failed = metrics.counter(
    "loyalty_http_auth_failures_total",
    "Requests to authenticated routes refused for their key (401), by reason: missing, malformed, unknown, wrong_secret, revoked, expired",
    ["reason"],
  );
  const limited = metrics.counter(
    "loyalty_http_ip_limited_total",
    "Requests refused by the per-IP limit before authentication (429), by bucket: requests, auth_failures",
    ["bucket"],
  );
  return {
    authFailed: (reason) => failed.inc({ reason }),
    ipLimited: (why) => limited.inc({ bucket: why }),
  };
}

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

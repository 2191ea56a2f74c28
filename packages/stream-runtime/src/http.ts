import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { isRetriable } from "./errors.ts";
import type { RuntimeMetrics } from "./metrics.ts";
import type { Readiness } from "./readiness.ts";

/** One query parameter of an ops route: its pattern and what it means (said in a 400). */
export interface OpsQueryParam {
  readonly pattern: RegExp;
  readonly description: string;
  readonly required: boolean;
}

/**
 * A read-only JSON route a service adds to its ops server (GET only). The server checks the query
 * against `query` (unknown, missing, repeated or malformed parameters: 400) before `handle` runs.
 */
export interface OpsRoute {
  /** Absolute path, e.g. "/calibration"; not one of OPS_PATHS. */
  readonly path: string;
  readonly query: Readonly<Record<string, OpsQueryParam>>;
  /** The JSON body of a 200; throw OpsRequestError for a refusal, anything else is a 500 or 503. */
  readonly handle: (query: Readonly<Record<string, string>>) => Promise<unknown>;
}

/**
 * A request the route refuses: answered with `status` and `{ error: { code, message, field? } }`.
 * Not retriable: the same request gets the same answer.
 */
export class OpsRequestError extends Error {
  readonly retriable = false;
  constructor(
    readonly status: 400 | 404 | 409 | 422,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "OpsRequestError";
  }
}

export interface OpsErrorBody {
  error: { code: string; message: string; field?: string };
}

const errorBody = (code: string, message: string, field?: string): OpsErrorBody => ({
  error: { code, message, ...(field === undefined ? {} : { field }) },
});

/** The query, checked against the route's parameters; an OpsRequestError (400) for the first problem. */
export function checkQuery(route: OpsRoute, search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of new Set(search.keys())) {
    const spec = Object.hasOwn(route.query, name) ? route.query[name] : undefined;
    if (spec === undefined)
      throw new OpsRequestError(400, "VALIDATION_FAILED", `query.${name} is not allowed`, `query.${name}`);
    const values = search.getAll(name);
    if (values.length > 1)
      throw new OpsRequestError(
        400,
        "VALIDATION_FAILED",
        `query.${name} given more than once`,
        `query.${name}`,
      );
    const value = values[0] ?? "";
    if (!spec.pattern.test(value))
      throw new OpsRequestError(
        400,
        "VALIDATION_FAILED",
        `query.${name} must be ${spec.description}, got ${JSON.stringify(value)}`,
        `query.${name}`,
      );
    out[name] = value;
  }
  for (const [name, spec] of Object.entries(route.query))
    if (spec.required && !Object.hasOwn(out, name))
      throw new OpsRequestError(
        400,
        "VALIDATION_FAILED",
        `query.${name} is required (${spec.description})`,
        `query.${name}`,
      );
  return out;
}

/** The ops server's own paths; a service's routes may not take them. */
export const OPS_PATHS: readonly string[] = ["/healthz", "/livez", "/readyz", "/metrics"];

const NO_CHECKS = async (): Promise<Readiness> => ({ status: "ready", failing: [], checks: {} });

/**
 * /livez (200 while the event loop answers), /readyz (200 when every readiness check passes, else
 * 503 naming the failing ones), /healthz (the liveness alias kept for compatibility: 200 while
 * the consumer is in its group and has not crashed, else 503), Prometheus /metrics, and the
 * service's own read-only JSON routes, if any.
 */
export async function startOpsServer(
  port: number,
  metrics: RuntimeMetrics,
  healthy: () => boolean,
  host = "127.0.0.1",
  routes: readonly OpsRoute[] = [],
  /** Where a route's unexpected failure is reported (its body says only "internal error"). */
  onRouteError: (err: unknown, path: string) => void = () => undefined,
  /** What /readyz answers (see readiness.ts); by default no checks: ready. */
  ready: () => Promise<Readiness> = NO_CHECKS,
): Promise<{ server: Server; port: number }> {
  const byPath = new Map<string, OpsRoute>();
  for (const r of routes) {
    if (!r.path.startsWith("/") || OPS_PATHS.includes(r.path) || byPath.has(r.path))
      throw new TypeError(`ops route ${r.path}: a path must start with / and be served once`);
    byPath.set(r.path, r);
  }
  const server = createServer((req, res) => {
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (req.url === "/healthz") {
      const ok = healthy();
      res
        .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify({ status: ok ? "ok" : "unavailable" }));
      return;
    }
    if (req.url === "/livez") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }));
      return;
    }
    if (req.url === "/readyz") {
      ready()
        .then((r) =>
          res
            .writeHead(r.status === "ready" ? 200 : 503, { "content-type": "application/json" })
            .end(JSON.stringify(r)),
        )
        .catch((err: unknown) => {
          onRouteError(err, "/readyz");
          res
            .writeHead(503, { "content-type": "application/json" })
            .end(JSON.stringify({ status: "unavailable", failing: ["readiness"], checks: {} }));
        });
      return;
    }
    if (req.url === "/metrics") {
      metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body))
        .catch((err: Error) => res.writeHead(500).end(err.message));
      return;
    }
    const url = new URL(req.url ?? "/", "http://ops.invalid");
    const route = byPath.get(url.pathname);
    if (route === undefined) {
      res.writeHead(404).end();
      return;
    }
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    Promise.resolve()
      .then(() => route.handle(checkQuery(route, url.searchParams)))
      .then(
        (body) => json(200, body),
        (err: unknown) => {
          if (err instanceof OpsRequestError)
            return json(err.status, errorBody(err.code, err.message, err.field));
          onRouteError(err, route.path);
          if (isRetriable(err)) return json(503, errorBody("UNAVAILABLE", "temporarily unavailable, retry"));
          return json(500, errorBody("INTERNAL", "internal error"));
        },
      )
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

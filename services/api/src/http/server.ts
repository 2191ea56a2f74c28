// The HTTP surface: a per-IP limit before authentication (src/http/ip-limit.ts), authentication
// (API keys with scopes), per-key rate limiting, schema validation (400 with the field at fault),
// the routes (the API keys' lifecycle included), and the error contract. Built without
// listening so tests can drive it with inject() or a real socket. One access-log line per
// request (request id, key id, route template, status, latency), never the key itself.
import { randomUUID } from "node:crypto";
import type { Pool } from "@loyalty/db";
import type { Logger, Readiness } from "@loyalty/stream-runtime";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { PointValue } from "../dashboard-figures.ts";
import { ApiError, toApiError } from "../domain/errors.ts";
import { addMonthsUtc } from "../domain/lots.ts";
import { retryAfterSeconds } from "../domain/token-bucket.ts";
import { NO_SECURITY_EVENTS, type SecurityEvents } from "../http-metrics.ts";
import type { LedgerGateway } from "../ledger-commands.ts";
import { ledgerHistory } from "../store/history.ts";
import { type KeyStore, type Principal, type Scope, allows } from "../store/keys.ts";
import {
  type EntryWaiter,
  type LedgerDeps,
  adjust,
  cancelRedemption,
  closeMember,
  commandStatus,
  redeem,
} from "../store/ledger.ts";
import { memberSummary } from "../summary.ts";
import { type ChurnAlertLink, registerChurnCalibration } from "./churn-calibration.ts";
import { registerChurnCard } from "./churn-card.ts";
import { registerConsoleRoutes } from "./console.ts";
import { DEFAULT_POINT_VALUE, registerDashboardRoutes } from "./dashboard.ts";
import { IpLimiter, type IpLimits } from "./ip-limit.ts";
import { API_VERSION, openApiDocument } from "./openapi.ts";
import type { RateLimiter } from "./rate-limit.ts";
import { MEMBER_ID_MAX_LENGTH, ROUTES } from "./schemas.ts";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    scope?: Scope | null;
  }
}

export interface ApiDeps {
  pool: Pool;
  keys: KeyStore;
  limiter: RateLimiter;
  /** The API's clock: the stream watermark in event-time mode, else wall time. */
  now: () => number;
  expiryMonths: number;
  /** The ledger's owner (the rules engine), through ledger commands and their replies. */
  ledger: LedgerGateway;
  /** LEDGER_REPLY_TIMEOUT_MS: a write waits this long for the engine's reply, then answers 202. */
  replyTimeoutMs: number;
  /**
   * The points read model's applied entries: an answered command waits for its entry there (at
   * most the rest of replyTimeoutMs), so the next read shows it. Unset: no wait.
   */
  applied?: EntryWaiter;
  logger: Logger;
  version?: string;
  /** What GET /readyz answers (PostgreSQL, Kafka, lag: see main.ts); unset: ready, no checks. */
  ready?: () => Promise<Readiness>;
  /** churn-alert's ops server, for GET /v1/churn/calibration and /v1/members/{id}/churn; unset: they answer 503. */
  churnAlert?: ChurnAlertLink;
  /** The programme's money per point, for the dashboard's liability; unset: DEFAULT_POINT_VALUE. */
  pointValue?: PointValue;
  /** Per-IP limits before authentication; unset: DEFAULT_IP_LIMITS. */
  ipLimiter?: IpLimiter;
  /** Failed authentications and per-IP refusals, for the metrics; unset: not counted. */
  security?: SecurityEvents;
  /**
   * Fastify's trustProxy: which proxies' X-Forwarded-For names the client (the per-IP limit's
   * key). Unset: none, the socket's address is the client.
   */
  trustProxy?: string | number;
}

/** API_IP_* defaults (src/config.ts). */
export const DEFAULT_IP_LIMITS: IpLimits = { rate: 500, burst: 1000, failureRate: 1, failureBurst: 20 };

type MemberParams = { memberId: string };
type IdemHeaders = { "idempotency-key": string };

/** A route as Fastify registered it: upper-case method, URL with `:param` segments. */
export interface ServedRoute {
  method: string;
  url: string;
}

const served = new WeakMap<FastifyInstance, ServedRoute[]>();

/** Every route the app serves, as its onRoute hook saw them (the contract test compares OpenAPI). */
export function servedRoutes(app: FastifyInstance): readonly ServedRoute[] {
  return served.get(app) ?? [];
}

function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError("AUTH_MISSING", "no API key");
  return req.principal;
}

/** A client's X-Request-Id is kept when it is this safe; else the request gets a UUID. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function buildServer(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    // Fastify's own logger stays off: the access log below is written through the service's pino
    // logger, with fields chosen so that no secret can be among them.
    logger: false,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: 16 * 1024,
    // The router's limit on a path parameter, before the schema sees it: Fastify's default (100)
    // answered 404 to valid member ids of 101-128 characters. It measures the raw path, where a
    // member id's `:` and `@` may arrive percent-encoded (3 characters each).
    maxParamLength: 3 * MEMBER_ID_MAX_LENGTH,
    ...(deps.trustProxy !== undefined ? { trustProxy: deps.trustProxy } : {}),
    return503OnClosing: true,
    // Only the routes below, each in the OpenAPI document: no implicit HEAD twin of every GET.
    exposeHeadRoutes: false,
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false },
    },
  });
  // Fastify also parses text/plain by default; a body that is not JSON is 415, as documented.
  app.removeContentTypeParser("text/plain");
  const routes: ServedRoute[] = [];
  served.set(app, routes);
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  app.decorateRequest("principal", null);
  const access = deps.logger.child({ component: "http" });
  app.addHook("onResponse", async (req, reply) => {
    access.info(
      {
        reqId: req.id,
        keyId: req.principal?.keyId ?? null,
        method: req.method,
        // The template (`/v1/members/:memberId`), never the URL: no ids, no query strings.
        route: req.routeOptions.url ?? null,
        status: reply.statusCode,
        latencyMs: Math.round(reply.elapsedTime * 1000) / 1000,
      },
      "request",
    );
  });
  const openapi = openApiDocument(deps.version ?? API_VERSION);
  const ledger: LedgerDeps = {
    pool: deps.pool,
    ledger: deps.ledger,
    replyTimeoutMs: deps.replyTimeoutMs,
    ...(deps.applied ? { applied: deps.applied } : {}),
    logger: deps.logger,
  };

  const summaryOrNotFound = async (memberId: string) => {
    const s = await memberSummary(deps.pool, memberId, deps.now());
    if (!s) throw new ApiError("MEMBER_NOT_FOUND", `member ${memberId} is not known`, "params.memberId");
    return s;
  };

  // The per-IP limit, authentication and the per-key rate limit run before the body is parsed or
  // validated: a request without a valid key learns nothing about the schemas, and a client
  // sending random keys is stopped by its IP's failure bucket before its keys are looked up.
  const ipLimiter = deps.ipLimiter ?? new IpLimiter(DEFAULT_IP_LIMITS);
  const security = deps.security ?? NO_SECURITY_EVENTS;
  const authFailed = (ip: string, reason: string, code: "AUTH_MISSING" | "AUTH_INVALID") => {
    security.authFailed(reason);
    if (code === "AUTH_INVALID") ipLimiter.failed(ip);
    return code === "AUTH_MISSING"
      ? new ApiError("AUTH_MISSING", "send Authorization: Bearer <API key>", "headers.authorization")
      : new ApiError(
          "AUTH_INVALID",
          "unknown, revoked, expired or malformed API key",
          "headers.authorization",
        );
  };
  app.addHook("onRequest", async (req, reply) => {
    const scope = req.routeOptions.config.scope ?? null;
    if (scope === null) return;
    const gate = ipLimiter.admit(req.ip);
    if (!gate.allowed) {
      security.ipLimited(gate.why);
      reply.header("retry-after", String(retryAfterSeconds(gate.retryAfterMs)));
      throw new ApiError(
        "RATE_LIMITED",
        gate.why === "auth_failures"
          ? "too many failed authentications from this address"
          : "too many requests from this address",
      );
    }
    const header = req.headers.authorization;
    if (header === undefined || header === "") throw authFailed(req.ip, "missing", "AUTH_MISSING");
    const m = /^Bearer +(\S+)$/i.exec(header);
    const presented = m?.[1];
    if (presented === undefined) throw authFailed(req.ip, "malformed", "AUTH_INVALID");
    const auth = await deps.keys.check(presented, Date.now());
    if (!auth.ok) throw authFailed(req.ip, auth.reason, "AUTH_INVALID");
    const principal = auth.principal;
    if (!allows(principal.scopes, scope))
      throw new ApiError("SCOPE_FORBIDDEN", `this key lacks the '${scope}' scope`, "headers.authorization");
    const rate = await deps.limiter.take(principal.keyId);
    if (!rate.allowed) {
      reply.header("retry-after", String(retryAfterSeconds(rate.retryAfterMs)));
      throw new ApiError("RATE_LIMITED", "too many requests for this key");
    }
    req.principal = principal;
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toApiError(err);
    if (e.code === "INTERNAL") deps.logger.error({ err, url: req.url }, "request failed");
    return reply.status(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send(new ApiError("NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`).body()),
  );

  const r = ROUTES;
  app.route({
    method: r.openapi.method,
    url: r.openapi.url,
    schema: r.openapi.schema,
    config: { scope: r.openapi.scope },
    handler: async () => openapi,
  });
  app.route({
    method: r.healthz.method,
    url: r.healthz.url,
    schema: r.healthz.schema,
    config: { scope: r.healthz.scope },
    handler: async () => ({ status: "ok" }),
  });
  app.route({
    method: r.livez.method,
    url: r.livez.url,
    schema: r.livez.schema,
    config: { scope: r.livez.scope },
    handler: async () => ({ status: "ok" }),
  });
  app.route({
    method: r.readyz.method,
    url: r.readyz.url,
    schema: r.readyz.schema,
    config: { scope: r.readyz.scope },
    handler: async (_req, reply) => {
      const ready: Readiness = deps.ready ? await deps.ready() : { status: "ready", failing: [], checks: {} };
      return reply.status(ready.status === "ready" ? 200 : 503).send(ready);
    },
  });

  app.route<{ Params: MemberParams }>({
    method: r.summary.method,
    url: r.summary.url,
    schema: r.summary.schema,
    config: { scope: r.summary.scope },
    handler: async (req) => {
      return summaryOrNotFound(req.params.memberId);
    },
  });

  app.route<{ Params: MemberParams; Querystring: { limit?: string; before?: string } }>({
    method: r.history.method,
    url: r.history.url,
    schema: r.history.schema,
    config: { scope: r.history.scope },
    handler: async (req) =>
      ledgerHistory(
        deps.pool,
        req.params.memberId,
        req.query.limit === undefined ? 50 : Number(req.query.limit),
        req.query.before === undefined ? null : Number(req.query.before),
      ),
  });

  app.route<{
    Params: MemberParams;
    Headers: IdemHeaders;
    Body: { points: number; orderId?: string; reason?: string };
  }>({
    method: r.redeem.method,
    url: r.redeem.url,
    schema: r.redeem.schema,
    config: { scope: r.redeem.scope },
    handler: async (req, reply) => {
      const out = await redeem(
        ledger,
        {
          keyId: principalOf(req).keyId,
          idempotencyKey: req.headers["idempotency-key"],
          memberId: req.params.memberId,
          points: req.body.points,
          orderId: req.body.orderId ?? null,
          reason: req.body.reason ?? null,
        },
        deps.now(),
      );
      return answer(reply, out);
    },
  });

  app.route<{ Params: MemberParams & { redemptionId: string } }>({
    method: r.cancel.method,
    url: r.cancel.url,
    schema: r.cancel.schema,
    config: { scope: r.cancel.scope },
    handler: async (req, reply) => {
      const by = principalOf(req);
      const out = await cancelRedemption(
        ledger,
        {
          memberId: req.params.memberId,
          redemptionId: req.params.redemptionId,
          reason: null,
          keyId: by.keyId,
          admin: by.scopes.includes("admin"),
        },
        deps.now(),
      );
      return answer(reply, out);
    },
  });

  app.route<{
    Params: MemberParams;
    Headers: IdemHeaders;
    Body: { points: number; reason: string; expiresAt?: string };
  }>({
    method: r.adjust.method,
    url: r.adjust.url,
    schema: r.adjust.schema,
    config: { scope: r.adjust.scope },
    handler: async (req, reply) => {
      const now = deps.now();
      const expiresAt =
        req.body.expiresAt === undefined
          ? addMonthsUtc(now, deps.expiryMonths)
          : Date.parse(req.body.expiresAt);
      if (req.body.points > 0 && !(expiresAt > now))
        throw new ApiError("VALIDATION_FAILED", "body.expiresAt must be in the future", "body.expiresAt");
      const out = await adjust(
        ledger,
        {
          keyId: principalOf(req).keyId,
          idempotencyKey: req.headers["idempotency-key"],
          memberId: req.params.memberId,
          points: req.body.points,
          reason: req.body.reason,
          expiresAt,
        },
        now,
      );
      return answer(reply, out);
    },
  });

  app.route<{ Params: { commandId: string } }>({
    method: r.ledgerCommand.method,
    url: r.ledgerCommand.url,
    schema: r.ledgerCommand.schema,
    config: { scope: r.ledgerCommand.scope },
    handler: async (req) => {
      const by = principalOf(req);
      return commandStatus(deps.pool, req.params.commandId, {
        keyId: by.keyId,
        admin: by.scopes.includes("admin"),
      });
    },
  });

  app.route<{ Params: MemberParams; Body: { reason: string } }>({
    method: r.close.method,
    url: r.close.url,
    schema: r.close.schema,
    config: { scope: r.close.scope },
    handler: async (req) => {
      await closeMember(deps.pool, req.params.memberId, req.body.reason);
      return summaryOrNotFound(req.params.memberId);
    },
  });

  registerChurnCalibration(app, deps.churnAlert ?? { url: null, timeoutMs: 0 });
  registerChurnCard(app, deps.churnAlert ?? { url: null, timeoutMs: 0 });
  registerConsoleRoutes(app, { pool: deps.pool, now: deps.now });
  registerDashboardRoutes(app, { pool: deps.pool, pointValue: deps.pointValue ?? DEFAULT_POINT_VALUE });

  app.route<{ Body: { name: string; scopes: Scope[]; owner?: string; expiresAt?: string } }>({
    method: r.createKey.method,
    url: r.createKey.url,
    schema: r.createKey.schema,
    config: { scope: r.createKey.scope },
    handler: async (req, reply) => {
      const now = Date.now();
      const expiresAt = req.body.expiresAt === undefined ? null : Date.parse(req.body.expiresAt);
      if (expiresAt !== null && !(expiresAt > now))
        throw new ApiError("VALIDATION_FAILED", "body.expiresAt must be in the future", "body.expiresAt");
      const created = await deps.keys.create(
        {
          name: req.body.name,
          scopes: req.body.scopes,
          owner: req.body.owner,
          expiresAt,
          createdBy: principalOf(req).keyId,
        },
        now,
      );
      return reply.status(201).send(created);
    },
  });
  app.route({
    method: r.listKeys.method,
    url: r.listKeys.url,
    schema: r.listKeys.schema,
    config: { scope: r.listKeys.scope },
    handler: async () => ({ keys: await deps.keys.list(Date.now()) }),
  });
  app.route<{ Params: { keyId: string } }>({
    method: r.revokeKey.method,
    url: r.revokeKey.url,
    schema: r.revokeKey.schema,
    config: { scope: r.revokeKey.scope },
    handler: async (req) => deps.keys.revoke(req.params.keyId, Date.now()),
  });
  app.route<{ Params: { keyId: string }; Body: { expiresAt: string | null } }>({
    method: r.setKeyExpiry.method,
    url: r.setKeyExpiry.url,
    schema: r.setKeyExpiry.schema,
    config: { scope: r.setKeyExpiry.scope },
    handler: async (req) =>
      deps.keys.setExpiry(
        req.params.keyId,
        req.body.expiresAt === null ? null : Date.parse(req.body.expiresAt),
        Date.now(),
      ),
  });

  return app;
}

function answer<T>(reply: FastifyReply, out: { status: number; body: T; replayed: boolean }) {
  if (out.replayed) reply.header("idempotent-replayed", "true");
  // 202: the ledger has not answered in time; the result will be at the status URL.
  const pending = out.body as { status?: unknown; statusUrl?: unknown };
  if (out.status === 202 && typeof pending.statusUrl === "string")
    reply.header("location", pending.statusUrl);
  return reply.status(out.status).send(out.body);
}

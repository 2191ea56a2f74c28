// The JSON schemas the routes validate (and serialise) with. The OpenAPI document is generated
// from these same objects (openapi.ts), so the two cannot drift apart.
import { ERROR_CODES } from "../domain/errors.ts";
import { KEY_ID_PATTERN, SCOPES, type Scope } from "../store/keys.ts";

export type Schema = Record<string, unknown>;

export const str = (extra: Schema = {}): Schema => ({ type: "string", ...extra });
export const nullable = (s: Schema): Schema => ({ ...s, type: [s.type as string, "null"] });
export const int = (extra: Schema = {}): Schema => ({ type: "integer", ...extra });
export const obj = (
  properties: Record<string, Schema>,
  required: string[] = Object.keys(properties),
): Schema => ({
  type: "object",
  additionalProperties: false,
  properties,
  required,
});

/** The longest member id the API takes (the schema's maxLength; the router's limit follows it). */
export const MEMBER_ID_MAX_LENGTH = 128;

export const memberId = str({
  minLength: 1,
  maxLength: MEMBER_ID_MAX_LENGTH,
  pattern: "^[A-Za-z0-9._:@-]+$",
  description: "Member id",
});
export const isoTime = str({ format: "date-time" });
const POINTS_MAX = 1_000_000_000;

export const errorSchema: Schema = obj({
  error: obj(
    {
      code: str({
        enum: Object.keys(ERROR_CODES),
        description: "Stable error code (see the service README)",
      }),
      message: str(),
      field: str({
        description: "Where the problem is: body.points, params.memberId, headers.idempotency-key, ...",
      }),
    },
    ["code", "message"],
  ),
});

const idempotencyHeaders: Schema = {
  type: "object",
  properties: {
    "idempotency-key": str({
      minLength: 1,
      maxLength: 128,
      pattern: "^[\\x21-\\x7e]+$",
      description: "Client-chosen key; a retry with the same key and body returns the first answer",
    }),
  },
  required: ["idempotency-key"],
};

const lotLine = obj({ lotId: str(), points: int(), expiresAt: isoTime });

const redemption = obj({
  redemptionId: str(),
  memberId: str(),
  status: str({ enum: ["redeemed", "cancelled"] }),
  points: int({ description: "Points redeemed (or, for a cancellation, put back)" }),
  balanceAfter: int(),
  entryId: str({ description: "Ledger entry id = PointsMovement.eventId" }),
  orderId: nullable(str()),
  eventTime: isoTime,
  lots: { type: "array", items: lotLine },
});

const pending = obj({
  commandId: str({ description: "The ledger command; its result will be at statusUrl" }),
  status: str({ enum: ["pending"] }),
  statusUrl: str({ description: "GET it for the final answer (GET /v1/ledger-commands/{commandId})" }),
});

const commandState = obj({
  commandId: str(),
  status: str({ enum: ["pending", "done"] }),
  httpStatus: nullable(int({ description: "The status the request would have been answered with" })),
  result: {
    type: ["object", "null"],
    additionalProperties: true,
    description: "The answer's body: a redemption, cancellation or adjustment, or an error",
  },
});

const adjustment = obj({
  adjustmentId: str(),
  memberId: str(),
  points: int(),
  balanceAfter: int(),
  entryId: str(),
  reason: str(),
  eventTime: isoTime,
  lots: { type: "array", items: lotLine },
});

const summary = obj({
  memberId: str(),
  status: str({ enum: ["open", "closed"] }),
  tier: nullable(str()),
  balance: int(),
  debt: int(),
  available: int({ description: "Points in lots still valid now (what a redemption can use)" }),
  expiring: {
    type: "array",
    items: obj({ days: int(), points: int(), before: isoTime }),
    description: "Points expiring within 30, 60 and 90 days (cumulative)",
  },
  churn: {
    ...obj({
      modelVersion: str({ description: "The churn model fit behind the latest alert" }),
      lastAlert: obj({
        at: isoTime,
        pAlive: { type: "number" },
        segment: str(),
        actionLevel: str(),
        modelVersion: str(),
      }),
    }),
    type: ["object", "null"],
    description:
      "Churn card from the member's latest alert on loyalty.churn-alerts.v1; null when churn-alert has raised none for the member",
  },
  asOf: isoTime,
});

const historyEntry = obj({
  entryId: str(),
  seq: int(),
  kind: str({ enum: ["earn", "reverse", "redeem", "expire", "adjust"] }),
  points: int(),
  balanceAfter: int(),
  ruleId: nullable(str()),
  ruleVersion: nullable(int()),
  ruleSetId: nullable(str()),
  ruleSetVersion: nullable(int()),
  reason: nullable(str()),
  sourceEventId: str(),
  orderId: nullable(str()),
  eventTime: isoTime,
  recordedAt: isoTime,
});

const num = (extra: Schema = {}): Schema => ({ type: "number", ...extra });
const isoDay = (description: string): Schema => str({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description });

/** The churn-alert service's calibration report, as its ops server answers GET /calibration. */
const calibrationBucket = obj({
  x: int({
    minimum: 0,
    description: "Repeat purchase days in calibration (the last bucket: this many or more)",
  }),
  label: str({ description: '"0" .. "7+"' }),
  members: int({ minimum: 0 }),
  actual: int({ minimum: 0, description: "Holdout purchase days of the bucket's members, summed" }),
  expected: num({ description: "Sum of E[X(t) | x, t_x, T] over the bucket's members" }),
  actualMean: nullable(num({ description: "Holdout purchase days per member; null for an empty bucket" })),
  expectedMean: nullable(num()),
});

const calibrationReport = obj({
  calibrationEnd: isoDay("Last day of the calibration period"),
  holdoutEnd: isoDay("Last day of the holdout period (calibrationEnd, holdoutEnd]"),
  unitDays: num({
    description: "The model's time unit in days (7: weeks); tx, T and holdoutLength are in it",
  }),
  fit: obj({
    params: obj({ r: num(), alpha: num(), a: num(), b: num() }),
    logLikelihood: num(),
    members: int(),
    converged: { type: "boolean" },
    iterations: int(),
  }),
  holdoutLength: num({ description: "t, in units" }),
  totals: obj({
    members: int(),
    actual: int(),
    expected: num(),
    relativeError: nullable(num({ description: "(expected - actual) / actual" })),
  }),
  byFrequency: { type: "array", items: calibrationBucket },
  members: {
    type: "array",
    items: obj({
      memberId: str(),
      x: int(),
      tx: num(),
      T: num(),
      actual: int({ description: "Holdout purchase days" }),
      expected: num({ description: "E[X(t) | x, t_x, T], t = holdoutLength" }),
    }),
    description: "Every member of the calibration cohort",
  },
  laterMembers: int({
    description: "Members whose first purchase came after calibrationEnd (not in the report)",
  }),
  frontier: nullable(int({ description: "churn-alert's event-time frontier, epoch ms" })),
  holdoutReached: {
    type: "boolean",
    description: "Whether churn-alert has seen events up to the holdout's last day",
  },
});

const keyId = str({ pattern: KEY_ID_PATTERN, description: "API key id (the 16 hex digits after lk_)" });

/** An API key as listed: never its secret or hash. */
const keyFields = {
  keyId: str(),
  name: str(),
  owner: str(),
  scopes: { type: "array", items: str({ enum: [...SCOPES] }) },
  createdBy: nullable(str({ description: "Key id of the admin key that created it; null from the CLI" })),
  createdAt: isoTime,
  lastUsedAt: nullable(str({ format: "date-time", description: "Updated at most once a minute" })),
  expiresAt: nullable(isoTime),
  revokedAt: nullable(isoTime),
  status: str({ enum: ["active", "revoked", "expired"] }),
};
const keyInfo = obj(keyFields);
const createdKey = obj({
  ...keyFields,
  key: str({ description: "The key: shown once, only its sha256 is stored; keep it now" }),
});

export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, errorSchema]));
/** What every authenticated route can answer before its handler runs: bad params, no key, scope, rate. */
export const AUTH_ERRORS = [400, 401, 403, 429] as const;
/** What a route with a body can answer while reading it: over 16 KiB, not JSON. */
export const BODY_ERRORS = [413, 415] as const;
/** A handler's failure (500) or a transient database failure / shutdown (503). */
export const SERVER_ERRORS = [500, 503] as const;

/** /readyz's body, on 200 and on 503 alike (packages/stream-runtime/src/readiness.ts). */
export const readinessSchema: Schema = {
  ...obj({
    status: str({ enum: ["ready", "unavailable"] }),
    failing: { type: "array", items: str(), description: "Names of the checks that failed" },
    checks: {
      type: "object",
      description: "Each check by name: postgres, kafka, lag",
      additionalProperties: {
        type: "object",
        properties: {
          ok: { type: "boolean" },
          error: str({ description: "Why it failed (never a secret)" }),
        },
        required: ["ok"],
        additionalProperties: true,
      },
    },
  }),
};

export interface RouteSpec {
  method: "GET" | "POST";
  url: string;
  operationId: string;
  summary: string;
  /** Null: public. */
  scope: Scope | null;
  schema: {
    params?: Schema;
    querystring?: Schema;
    headers?: Schema;
    body?: Schema;
    response: Record<number, Schema>;
  };
}

export const ROUTES = {
  openapi: {
    method: "GET",
    url: "/openapi.json",
    operationId: "getOpenApiDocument",
    summary: "This OpenAPI document (also committed as schemas/openapi.json)",
    scope: null,
    schema: {
      response: {
        200: {
          type: "object",
          additionalProperties: true,
          properties: {
            openapi: str(),
            info: { type: "object", additionalProperties: true },
            paths: { type: "object", additionalProperties: true },
          },
          required: ["openapi", "info", "paths"],
          description: "An OpenAPI 3.1 document",
        },
        ...errors(503),
      },
    },
  },
  healthz: {
    method: "GET",
    url: "/healthz",
    operationId: "getHealth",
    summary: "Liveness (alias of /livez, kept for compatibility): answers while the server accepts requests",
    scope: null,
    schema: { response: { 200: obj({ status: str({ enum: ["ok"] }) }), ...errors(503) } },
  },
  livez: {
    method: "GET",
    url: "/livez",
    operationId: "getLiveness",
    summary: "Liveness: answers while the process's event loop does (/healthz is its alias)",
    scope: null,
    schema: { response: { 200: obj({ status: str({ enum: ["ok"] }) }), ...errors(503) } },
  },
  readyz: {
    method: "GET",
    url: "/readyz",
    operationId: "getReadiness",
    summary: "Readiness: PostgreSQL, Kafka and consumer lag, each named; 503 names the failing ones",
    scope: null,
    schema: { response: { 200: readinessSchema, 503: readinessSchema } },
  },
  summary: {
    method: "GET",
    url: "/v1/members/:memberId",
    operationId: "getMemberSummary",
    summary: "Tier, balance, points expiring in 30/60/90 days, churn card",
    scope: "read",
    schema: {
      params: obj({ memberId }),
      response: { 200: summary, ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS) },
    },
  },
  history: {
    method: "GET",
    url: "/v1/members/:memberId/ledger",
    operationId: "getLedgerHistory",
    summary: "Ledger entries, newest first, paged by cursor",
    scope: "read",
    schema: {
      params: obj({ memberId }),
      querystring: obj(
        {
          limit: str({
            pattern: "^(?:[1-9]|[1-9][0-9]|[1-4][0-9][0-9]|500)$",
            description: "1..500, default 50",
          }),
          before: str({ pattern: "^[0-9]{1,15}$", description: "nextCursor of the previous page" }),
        },
        [],
      ),
      response: {
        200: obj({
          memberId: str(),
          entries: { type: "array", items: historyEntry },
          nextCursor: nullable(str()),
        }),
        ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS),
      },
    },
  },
  redeem: {
    method: "POST",
    url: "/v1/members/:memberId/redemptions",
    operationId: "redeemPoints",
    summary: "Redeem points (FIFO by expiry); idempotent on Idempotency-Key",
    scope: "redeem",
    schema: {
      params: obj({ memberId }),
      headers: idempotencyHeaders,
      body: obj(
        {
          points: int({ minimum: 1, maximum: POINTS_MAX }),
          orderId: str({ minLength: 1, maxLength: 128 }),
          reason: str({ minLength: 1, maxLength: 500 }),
        },
        ["points"],
      ),
      response: {
        201: redemption,
        202: pending,
        ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, 409, 422, ...SERVER_ERRORS),
      },
    },
  },
  cancel: {
    method: "POST",
    url: "/v1/members/:memberId/redemptions/:redemptionId/cancel",
    operationId: "cancelRedemption",
    summary: "Cancel a redemption: points go back to their original lots with their original expiry",
    scope: "redeem",
    schema: {
      params: obj({ memberId, redemptionId: str({ pattern: "^rdm-[0-9a-f]{32}$" }) }),
      response: {
        200: redemption,
        202: pending,
        ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, ...SERVER_ERRORS),
      },
    },
  },
  adjust: {
    method: "POST",
    url: "/v1/members/:memberId/adjustments",
    operationId: "adjustPoints",
    summary: "Manual adjustment with a mandatory reason (admin); idempotent on Idempotency-Key",
    scope: "admin",
    schema: {
      params: obj({ memberId }),
      headers: idempotencyHeaders,
      body: obj(
        {
          points: int({ minimum: -POINTS_MAX, maximum: POINTS_MAX, not: { const: 0 } }),
          reason: str({ minLength: 3, maxLength: 500 }),
          expiresAt: isoTime,
        },
        ["points", "reason"],
      ),
      response: {
        201: adjustment,
        202: pending,
        ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, 409, 422, ...SERVER_ERRORS),
      },
    },
  },
  ledgerCommand: {
    method: "GET",
    url: "/v1/ledger-commands/:commandId",
    operationId: "getLedgerCommand",
    summary:
      "A redemption, cancellation or adjustment answered 202: pending, or done with the answer it got (the key that sent it, or admin)",
    scope: "redeem",
    schema: {
      params: obj({ commandId: str({ pattern: "^(?:rdm|adj|cnl)-[0-9a-f]{32}$" }) }),
      response: { 200: commandState, ...errors(...AUTH_ERRORS, 404, ...SERVER_ERRORS) },
    },
  },
  close: {
    method: "POST",
    url: "/v1/members/:memberId/close",
    operationId: "closeMember",
    summary: "Close a member (admin): redemptions are refused from then on",
    scope: "admin",
    schema: {
      params: obj({ memberId }),
      body: obj({ reason: str({ minLength: 3, maxLength: 500 }) }),
      response: { 200: summary, ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, ...SERVER_ERRORS) },
    },
  },
  churnCalibration: {
    method: "GET",
    url: "/v1/churn/calibration",
    operationId: "getChurnCalibration",
    summary:
      "Churn model calibration: BG/NBD fitted up to calibrationEnd, predicted against actual holdout purchases (from churn-alert)",
    scope: "read",
    schema: {
      querystring: obj({
        calibrationEnd: isoDay("Last day of the calibration period, YYYY-MM-DD"),
        holdoutEnd: isoDay("Last day of the holdout period, YYYY-MM-DD, after calibrationEnd"),
      }),
      response: { 200: calibrationReport, ...errors(...AUTH_ERRORS, 422, ...SERVER_ERRORS) },
    },
  },
  createKey: {
    method: "POST",
    url: "/v1/keys",
    operationId: "createApiKey",
    summary: "Create an API key (admin); the key is returned once, only its sha256 is stored",
    scope: "admin",
    schema: {
      body: obj(
        {
          name: str({ minLength: 1, maxLength: 100 }),
          scopes: {
            type: "array",
            minItems: 1,
            uniqueItems: true,
            items: str({ enum: [...SCOPES] }),
          },
          owner: str({
            minLength: 1,
            maxLength: 100,
            description: "Who answers for the key (a team, a system); the name when absent",
          }),
          expiresAt: str({ format: "date-time", description: "When the key stops working; absent: never" }),
        },
        ["name", "scopes"],
      ),
      response: {
        201: createdKey,
        ...errors(...AUTH_ERRORS, ...BODY_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  listKeys: {
    method: "GET",
    url: "/v1/keys",
    operationId: "listApiKeys",
    summary:
      "Every API key with owner, scopes, created/last used/expiry/revocation times (admin); never a secret",
    scope: "admin",
    schema: {
      response: {
        200: obj({ keys: { type: "array", items: keyInfo } }),
        ...errors(...AUTH_ERRORS, ...SERVER_ERRORS),
      },
    },
  },
  revokeKey: {
    method: "POST",
    url: "/v1/keys/:keyId/revoke",
    operationId: "revokeApiKey",
    summary:
      "Revoke an API key for good (admin); refused everywhere within a second; repeating it answers the same",
    scope: "admin",
    schema: {
      params: obj({ keyId }),
      response: { 200: keyInfo, ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, ...SERVER_ERRORS) },
    },
  },
  setKeyExpiry: {
    method: "POST",
    url: "/v1/keys/:keyId/expiry",
    operationId: "setApiKeyExpiry",
    summary: "Set or clear an API key's expiry (admin); a time already past expires it at once",
    scope: "admin",
    schema: {
      params: obj({ keyId }),
      body: obj({
        expiresAt: nullable(
          str({ format: "date-time", description: "When the key stops working; null: never" }),
        ),
      }),
      response: { 200: keyInfo, ...errors(...AUTH_ERRORS, ...BODY_ERRORS, 404, 409, ...SERVER_ERRORS) },
    },
  },
} as const satisfies Record<string, RouteSpec>;

// OpenAPI 3.1 document built from the route specs (the same JSON schemas the routes validate
// with). OpenAPI 3.1 schemas are JSON Schema, so the route schemas are used as they are. The
// server serves it at /openapi.json; `pnpm --filter @loyalty/api openapi:write` writes the same
// document to schemas/openapi.json for clients that generate code without running the API.
import { ERROR_CODES, type ErrorCode } from "../domain/errors.ts";
import { CHURN_CARD_ROUTES } from "./churn-card.ts";
import { CONSOLE_ROUTES } from "./console-schemas.ts";
import { DASHBOARD_ROUTES } from "./dashboard-schemas.ts";
import { ROUTES, type RouteSpec, errorSchema, readinessSchema } from "./schemas.ts";

type Json = Record<string, unknown>;

/** info.version of the document the server serves unless told otherwise. */
export const API_VERSION = "0.1.0";

/** Where the committed copy lives, relative to the repository root. */
export const OPENAPI_FILE = "schemas/openapi.json";

/**
 * The repository has no LICENSE file yet, so the document says so instead of naming one. When a
 * licence is chosen, put its SPDX identifier here (`{ name, identifier }`) and regenerate.
 */
const LICENSE = { name: "Unlicensed: no licence chosen yet (the repository has no LICENSE file)" };

export const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, "{$1}");

/** One reusable response per error status, named as in components.responses. */
const ERROR_RESPONSES: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  413: "PayloadTooLarge",
  415: "UnsupportedMediaType",
  422: "UnprocessableContent",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
};

const codesOf = (status: number): ErrorCode[] =>
  (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c] === status);

/** The error body narrowed to the codes this status carries. */
const errorOf = (status: number): Json => ({
  allOf: [
    { $ref: "#/components/schemas/Error" },
    {
      type: "object",
      properties: { error: { type: "object", properties: { code: { enum: codesOf(status) } } } },
    },
  ],
});

/**
 * What Fastify itself writes (not the error contract) to a request that reaches a server that is
 * closing: a keep-alive connection's next request during shutdown.
 */
const shuttingDownSchema: Json = {
  type: "object",
  additionalProperties: false,
  properties: {
    error: { type: "string", const: "Service Unavailable" },
    message: { type: "string" },
    statusCode: { type: "integer", const: 503 },
  },
  required: ["error", "message", "statusCode"],
  description: "Fastify's own answer while the server shuts down",
};

function errorResponses(): Json {
  const out: Json = {};
  for (const [status, name] of Object.entries(ERROR_RESPONSES)) {
    const s = Number(status);
    const codes = codesOf(s).join(", ");
    const schema =
      s === 503 ? { anyOf: [errorOf(s), { $ref: "#/components/schemas/ShuttingDown" }] } : errorOf(s);
    out[name] = {
      description:
        s === 503
          ? `${codes}: a transient database failure; or, while the server shuts down, Fastify's own body`
          : `Error ${codes}`,
      ...(s === 429
        ? {
            headers: {
              "Retry-After": {
                description: "Seconds until the key's bucket has a token again",
                required: true,
                schema: { type: "string", pattern: "^[0-9]+$" },
              },
            },
          }
        : {}),
      content: { "application/json": { schema } },
    };
  }
  return out;
}

function parameters(where: "path" | "query" | "header", schema: Json | undefined): Json[] {
  if (!schema) return [];
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({
    name:
      where === "header"
        ? name.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase())
        : name,
    in: where,
    required: where === "path" || required.has(name),
    ...(typeof s.description === "string" ? { description: s.description } : {}),
    schema: s,
  }));
}

function operation(spec: RouteSpec): Json {
  const idempotent = Object.hasOwn((spec.schema.headers?.properties ?? {}) as Json, "idempotency-key");
  const responses: Json = {};
  for (const [status, schema] of Object.entries(spec.schema.response)) {
    const s = Number(status);
    const name = ERROR_RESPONSES[s];
    if (s >= 400 && schema === errorSchema && name !== undefined) {
      responses[status] = { $ref: `#/components/responses/${name}` };
      continue;
    }
    if (s === 503 && schema === readinessSchema) {
      responses[status] = {
        description: "Not ready: `failing` names the checks that failed",
        content: { "application/json": { schema } },
      };
      continue;
    }
    if (s === 422 && schema !== errorSchema) {
      // An error body with more than the contract's fields (422 RULESET_INVALID lists every problem).
      responses[status] = {
        description: "The request was understood but refused; `error.errors` says why",
        content: { "application/json": { schema } },
      };
      continue;
    }
    if (s >= 400) throw new TypeError(`${spec.operationId}: status ${s} has no error response in openapi.ts`);
    responses[status] = {
      description: s === 201 ? "Created" : "OK",
      ...(idempotent
        ? {
            headers: {
              "Idempotent-Replayed": {
                description: "`true` when this is the stored answer to an earlier request with this key",
                schema: { type: "string", enum: ["true"] },
              },
            },
          }
        : {}),
      content: { "application/json": { schema } },
    };
  }
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.scope ? { "x-required-scope": spec.scope } : { security: [] }),
    parameters: [
      ...parameters("path", spec.schema.params),
      ...parameters("query", spec.schema.querystring),
      ...parameters("header", spec.schema.headers),
    ],
    ...(spec.schema.body
      ? { requestBody: { required: true, content: { "application/json": { schema: spec.schema.body } } } }
      : {}),
    responses,
  };
}

export function openApiDocument(
  version: string = API_VERSION,
  routes: readonly RouteSpec[] = [
    ...Object.values(ROUTES),
    ...Object.values(CHURN_CARD_ROUTES),
    ...Object.values(CONSOLE_ROUTES),
    ...Object.values(DASHBOARD_ROUTES),
  ],
): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const p = openApiPath(r.url);
    paths[p] = { ...(paths[p] ?? {}), [r.method.toLowerCase()]: operation(r) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Loyalty member API",
      version,
      description:
        "Balances, history, redemption, cancellation and adjustments on the points ledger. Errors are " +
        `{ error: { code, message, field? } } with codes: ${Object.keys(ERROR_CODES).join(", ")}. ` +
        "Any other method or path answers 404 NOT_FOUND with that body.",
      license: LICENSE,
    },
    servers: [
      {
        url: "http://127.0.0.1:{port}",
        description: "Local: `node --import tsx services/api/src/main.ts` (API_HOST 127.0.0.1 by default)",
        variables: { port: { default: "8080", description: "API_PORT (required; 8080 in the README)" } },
      },
      {
        url: "https://{host}",
        description: "Production (placeholder): the API behind a TLS-terminating proxy",
        variables: { host: { default: "loyalty-api.internal", description: "Public host name of the API" } },
      },
    ],
    security: [{ apiKey: [] }],
    paths,
    components: {
      schemas: { Error: errorSchema, ShuttingDown: shuttingDownSchema },
      responses: errorResponses(),
      securitySchemes: {
        apiKey: {
          type: "http",
          scheme: "bearer",
          description: "Authorization: Bearer <API key>; each operation's x-required-scope names the scope",
        },
      },
    },
  };
}

/** The committed form of the document: what `openapi:write` writes and the test compares. */
export function openApiJson(version: string = API_VERSION): string {
  return `${JSON.stringify(openApiDocument(version), null, 2)}\n`;
}

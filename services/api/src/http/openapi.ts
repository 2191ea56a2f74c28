// OpenAPI 3.1 document built from the route specs (the same JSON schemas the routes validate
// with). OpenAPI 3.1 schemas are JSON Schema, so the route schemas are used as they are.
import { ERROR_CODES } from "../domain/errors.ts";
import { ROUTES, type RouteSpec, errorSchema } from "./schemas.ts";

type Json = Record<string, unknown>;

const openApiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, "{$1}");

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
  const responses: Json = {};
  for (const [status, schema] of Object.entries(spec.schema.response))
    responses[status] = {
      description: Number(status) < 400 ? "OK" : "Error (see error.code)",
      content: {
        "application/json": {
          schema: schema === errorSchema ? { $ref: "#/components/schemas/Error" } : schema,
        },
      },
    };
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.scope ? { security: [{ apiKey: [] }], "x-required-scope": spec.scope } : {}),
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

export function openApiDocument(version: string, routes: readonly RouteSpec[] = Object.values(ROUTES)): Json {
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
        `{ error: { code, message, field? } } with codes: ${Object.keys(ERROR_CODES).join(", ")}.`,
    },
    paths,
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "Authorization: Bearer <API key>" },
      },
    },
  };
}

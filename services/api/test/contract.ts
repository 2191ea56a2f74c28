import formats from "ajv-formats";
// The API held to its OpenAPI document, for the tests: which served routes the document lacks
// (and which documented operations nothing serves), and whether one real response (status,
// content type, required headers, body) is one the document allows. Pure: no I/O.
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { openApiPath } from "../src/http/openapi.ts";
import type { ServedRoute } from "../src/http/server.ts";

type Json = Record<string, unknown>;

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** "GET /v1/members/{memberId}" for every operation of the document. */
export function documentedOperations(doc: Json): string[] {
  const paths = isObject(doc.paths) ? doc.paths : {};
  const out: string[] = [];
  for (const [path, item] of Object.entries(paths))
    if (isObject(item))
      for (const m of METHODS) if (isObject(item[m])) out.push(`${m.toUpperCase()} ${path}`);
  return out.sort();
}

export interface RouteCoverage {
  /** Served by Fastify, missing from the document. */
  undocumented: string[];
  /** In the document, served by nothing. */
  unserved: string[];
}

export function routeCoverage(doc: Json, served: readonly ServedRoute[]): RouteCoverage {
  const documented = new Set(documentedOperations(doc));
  const real = new Set(served.map((r) => `${r.method.toUpperCase()} ${openApiPath(r.url)}`));
  return {
    undocumented: [...real].filter((op) => !documented.has(op)).sort(),
    unserved: [...documented].filter((op) => !real.has(op)).sort(),
  };
}

export interface ObservedResponse {
  method: string;
  /** Path and query as requested: /v1/members/m1/ledger?limit=2 */
  path: string;
  status: number;
  headers: Headers;
  /** The raw body text ("" when there was none). */
  text: string;
}

/** A real response the OpenAPI document does not allow. */
export class ContractViolation extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the response breaks the OpenAPI contract:\n  ${problems.join("\n  ")}`);
    this.name = "ContractViolation";
  }
}

const pointerPart = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * Checks real responses against the OpenAPI document: the operation is found by method and
 * path template; the status must be documented; a documented media type must match the
 * Content-Type; the body must validate (JSON Schema 2020-12, formats included) against the
 * response schema; required response headers must be present. A method and path the document
 * does not have must be answered 404 with the error body.
 */
export class ResponseContract {
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: { method: string; path: string; pattern: RegExp }[];

  constructor(private readonly doc: Json) {
    // strict: false because the whole document is registered as one schema (so that its
    // $refs resolve) and OpenAPI keywords (paths, x-required-scope...) are not JSON Schema.
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    formats.default(this.ajv);
    this.ajv.addSchema(doc, "openapi.json");
    this.templates = documentedOperations(doc).map((op) => {
      const [method = "", path = ""] = op.split(" ");
      const source = path
        .split(/\{[^}]+\}/)
        .map((s) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))
        .join("[^/]+");
      return { method, path, pattern: new RegExp(`^${source}$`) };
    });
  }

  /** What is wrong with the response, or [] when the document allows it. */
  check(res: ObservedResponse): string[] {
    const url = res.path.split("?")[0] ?? res.path;
    const method = res.method.toUpperCase();
    const op = this.templates.find((t) => t.method === method && t.pattern.test(url));
    const what = `${method} ${url} → ${res.status}`;
    if (!op) {
      if (res.status !== 404) return [`${what}: no such operation in the document, yet not a 404`];
      return this.body(what, "#/components/responses/NotFound", res);
    }
    const base = `#/paths/${pointerPart(op.path)}/${op.method.toLowerCase()}/responses`;
    const responses = this.at(base);
    if (!isObject(responses)) return [`${what}: the operation has no responses`];
    const key = String(res.status);
    if (!(key in responses))
      return [`${what}: status not documented for ${op.method} ${op.path} (has ${Object.keys(responses)})`];
    return this.body(what, `${base}/${key}`, res);
  }

  /** Throws ContractViolation unless the document allows the response. */
  assert(res: ObservedResponse): void {
    const problems = this.check(res);
    if (problems.length > 0) throw new ContractViolation(problems);
  }

  /** Follows local $refs to the response object; returns its pointer. */
  private resolve(pointer: string): string {
    let p = pointer;
    for (let i = 0; i < 10; i++) {
      const node = this.at(p);
      if (!isObject(node) || typeof node.$ref !== "string") return p;
      p = node.$ref;
    }
    throw new Error(`$ref cycle at ${pointer}`);
  }

  private body(what: string, pointer: string, res: ObservedResponse): string[] {
    const at = this.resolve(pointer);
    const response = this.at(at);
    if (!isObject(response)) return [`${what}: ${pointer} is not a response object`];
    const problems: string[] = [];
    const headers = isObject(response.headers) ? response.headers : {};
    for (const [name, h] of Object.entries(headers))
      if (isObject(h) && h.required === true && !res.headers.has(name))
        problems.push(`${what}: required header ${name} is missing`);
    const content = isObject(response.content) ? response.content : {};
    const types = Object.keys(content);
    if (types.length === 0) {
      if (res.text !== "")
        problems.push(`${what}: documented without a body, answered ${res.text.length} bytes`);
      return problems;
    }
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (!types.includes(mediaType)) {
      problems.push(`${what}: Content-Type '${mediaType}' is not one of ${types.join(", ")}`);
      return problems;
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      problems.push(`${what}: body is not JSON: ${res.text.slice(0, 200)}`);
      return problems;
    }
    const validate = this.validator(`${at}/content/${pointerPart(mediaType)}/schema`);
    if (!validate(body))
      problems.push(
        `${what}: body does not match ${at}: ${this.ajv.errorsText(validate.errors)}; body: ${res.text.slice(0, 500)}`,
      );
    return problems;
  }

  private validator(pointer: string): ValidateFunction {
    const known = this.validators.get(pointer);
    if (known) return known;
    const v = this.ajv.getSchema(`openapi.json${pointer}`);
    if (!v) throw new Error(`no schema at ${pointer}`);
    this.validators.set(pointer, v);
    return v;
  }

  private at(pointer: string): unknown {
    let node: unknown = this.doc;
    for (const raw of pointer.replace(/^#\/?/, "").split("/")) {
      if (raw === "") continue;
      const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (!isObject(node)) return undefined;
      node = node[key];
    }
    return node;
  }
}

// The API's error contract: every refusal is `{ error: { code, message, field? } }` with a
// stable code. Pure: the mapping from validation failures and thrown errors to that shape.

export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  IDEMPOTENCY_KEY_REQUIRED: 400,
  AUTH_MISSING: 401,
  AUTH_INVALID: 401,
  SCOPE_FORBIDDEN: 403,
  REDEMPTION_FORBIDDEN: 403,
  NOT_FOUND: 404,
  MEMBER_NOT_FOUND: 404,
  REDEMPTION_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  IDEMPOTENCY_KEY_REUSED: 409,
  MEMBER_CLOSED: 409,
  KEY_REVOKED: 409,
  INSUFFICIENT_BALANCE: 422,
  CALIBRATION_NO_DATA: 422,
  RULESET_INVALID: 422,
  RULESET_NOT_FOUND: 404,
  /** Console review (ADR 18): a draft's own submitter may not review it; a published one is closed. */
  DRAFT_SELF_REVIEW: 403,
  DRAFT_NOT_FOUND: 404,
  DRAFT_PUBLISHED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = ERROR_CODES[code];
  }

  body(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) },
    };
  }
}

/** The part of an Ajv error the mapping needs. */
export interface SchemaViolation {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * The field at fault, as `<where>.<path>`: `body.points`, `params.memberId`,
 * `headers.idempotency-key`, `querystring.limit`. A missing or unexpected property names itself.
 */
export function fieldOf(context: string | undefined, v: SchemaViolation): string {
  const where = context ?? "body";
  const path = v.instancePath
    .split("/")
    .filter(Boolean)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  const extra =
    typeof v.params.missingProperty === "string"
      ? v.params.missingProperty
      : typeof v.params.additionalProperty === "string"
        ? v.params.additionalProperty
        : undefined;
  if (extra !== undefined) path.push(extra);
  return [where, ...path].join(".");
}

export function validationError(
  context: string | undefined,
  violations: readonly SchemaViolation[],
): ApiError {
  const v = violations[0];
  if (!v) return new ApiError("VALIDATION_FAILED", "request does not match its schema");
  const field = fieldOf(context, v);
  if (field === "headers.idempotency-key" && v.keyword === "required")
    return new ApiError("IDEMPOTENCY_KEY_REQUIRED", "send an Idempotency-Key header", field);
  const what =
    v.keyword === "additionalProperties"
      ? "is not allowed"
      : v.keyword === "required"
        ? "is required"
        : v.message;
  return new ApiError("VALIDATION_FAILED", `${field} ${what ?? "is invalid"}`, field);
}

const TRANSIENT_PG = new Set(["40001", "40P01", "57P01", "57P03", "53300", "08000", "08003", "08006"]);

/** Anything thrown by a handler → the API error answered. Unknown errors never leak details. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (typeof err === "object" && err !== null) {
    const e = err as {
      validation?: unknown;
      validationContext?: unknown;
      statusCode?: unknown;
      code?: unknown;
    };
    if (Array.isArray(e.validation))
      return validationError(
        typeof e.validationContext === "string" ? e.validationContext : undefined,
        e.validation as SchemaViolation[],
      );
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE")
      return new ApiError("PAYLOAD_TOO_LARGE", "request body too large");
    if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
      return new ApiError("UNSUPPORTED_MEDIA_TYPE", "send application/json");
    if (e.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || e.code === "FST_ERR_CTP_INVALID_JSON_BODY")
      return new ApiError("VALIDATION_FAILED", "body is not valid JSON", "body");
    if (typeof e.code === "string" && TRANSIENT_PG.has(e.code))
      return new ApiError("UNAVAILABLE", "temporarily unavailable, retry");
    if (e.statusCode === 400) return new ApiError("VALIDATION_FAILED", "malformed request", "body");
  }
  return new ApiError("INTERNAL", "internal error");
}

/** One problem the rules engine's validator found in a draft: the rule and the JSON path it names. */
export interface RuleSetProblem {
  ruleId: string | null;
  path: string;
  problem: string;
}

/** 422 RULESET_INVALID: the body's `error.errors` lists every problem of the draft. */
export class RuleSetInvalidError extends ApiError {
  constructor(readonly problems: readonly RuleSetProblem[]) {
    super(
      "RULESET_INVALID",
      `the draft has ${problems.length} problem(s); the first: ${problems[0]?.path ?? "$"} ${problems[0]?.problem ?? ""}`,
      "body.ruleSet",
    );
    this.name = "RuleSetInvalidError";
  }

  override body(): ErrorBody & { error: { errors: RuleSetProblem[] } } {
    const b = super.body();
    return { error: { ...b.error, errors: [...this.problems] } };
  }
}

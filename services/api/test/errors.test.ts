import { describe, expect, it } from "vitest";
import { ApiError, fieldOf, toApiError, validationError } from "../src/domain/errors.ts";

describe("error mapping", () => {
  it("names the field at fault", () => {
    expect(fieldOf("body", { instancePath: "/points", keyword: "minimum", params: {} })).toBe("body.points");
    expect(
      fieldOf("body", { instancePath: "", keyword: "required", params: { missingProperty: "reason" } }),
    ).toBe("body.reason");
    expect(
      fieldOf("body", {
        instancePath: "",
        keyword: "additionalProperties",
        params: { additionalProperty: "pts" },
      }),
    ).toBe("body.pts");
    expect(fieldOf("params", { instancePath: "/memberId", keyword: "pattern", params: {} })).toBe(
      "params.memberId",
    );
    expect(fieldOf("body", { instancePath: "/scopes/0", keyword: "enum", params: {} })).toBe("body.scopes.0");
  });

  it("maps a missing Idempotency-Key to its own code", () => {
    const e = validationError("headers", [
      { instancePath: "", keyword: "required", params: { missingProperty: "idempotency-key" } },
    ]);
    expect(e.code).toBe("IDEMPOTENCY_KEY_REQUIRED");
    expect(e.status).toBe(400);
    expect(e.body()).toEqual({
      error: {
        code: "IDEMPOTENCY_KEY_REQUIRED",
        message: "send an Idempotency-Key header",
        field: "headers.idempotency-key",
      },
    });
  });

  it("maps fastify validation errors, transient database errors and the unknown", () => {
    const v = toApiError({
      validation: [{ instancePath: "/points", keyword: "type", params: {}, message: "must be integer" }],
      validationContext: "body",
    });
    expect(v.body()).toEqual({
      error: { code: "VALIDATION_FAILED", message: "body.points must be integer", field: "body.points" },
    });
    expect(toApiError({ code: "40P01" }).code).toBe("UNAVAILABLE");
    expect(toApiError(new SyntaxError("x")).code).toBe("INTERNAL");
    expect(
      toApiError(Object.assign(new SyntaxError("bad json"), { statusCode: 400 })).body().error.field,
    ).toBe("body");
    const own = new ApiError("INSUFFICIENT_BALANCE", "no");
    expect(toApiError(own)).toBe(own);
    expect(own.status).toBe(422);
  });
});

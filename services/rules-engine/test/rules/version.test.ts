// Rule and rule-set versions have one range everywhere: Avro `int` on loyalty.rules.v1,
// loyalty.points.v1 and loyalty.campaigns.v1, `int` columns in the ledger, and the validator
// (which the engine's registry and the CLI's publish both run).
import { TOPICS, avroTypeOf } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { LIMITS, validateRuleSet } from "../../src/rules/validate.ts";
import { publication } from "../../src/rulesets/topic.ts";
import { mustValidate, rule, ruleSet } from "./helpers.ts";

const MAX_INT = 2 ** 31 - 1;

describe("rule-set and rule versions", () => {
  it("the validator's range is Avro int's", () => {
    expect(LIMITS.maxVersion).toBe(MAX_INT);
  });

  it("rejects rule-set version 2^31 with its path", () => {
    const r = validateRuleSet(ruleSet([rule()], 2 ** 31));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      {
        ruleId: null,
        path: "$.version",
        problem: `"version" must be between 1 and ${MAX_INT}, got ${2 ** 31}`,
      },
    ]);
  });

  it("rejects rule version 2^31 with the rule id and path", () => {
    const r = validateRuleSet(ruleSet([rule({ id: "big", version: 2 ** 31 })]));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      {
        ruleId: "big",
        path: "$.rules[0].version",
        problem: `"version" must be between 1 and ${MAX_INT}, got ${2 ** 31}`,
      },
    ]);
  });

  it("the maximum version validates and its publication encodes and decodes", () => {
    const rs = mustValidate(ruleSet([rule({ version: MAX_INT })], MAX_INT));
    const p = publication(rs, Date.UTC(2025, 0, 1));
    const type = avroTypeOf(TOPICS.rules);
    const back = type.fromBuffer(type.toBuffer(p)) as { version: number; ruleSetJson: string };
    expect(back.version).toBe(MAX_INT);
    expect(JSON.parse(back.ruleSetJson).rules[0].version).toBe(MAX_INT);
  });

  it("2^31 does not encode as Avro int (why the validator stops there)", () => {
    const type = avroTypeOf(TOPICS.rules);
    expect(
      type.isValid({ ruleSetId: "s", version: 2 ** 31, publishedAt: 0, checksum: "", ruleSetJson: "{}" }),
    ).toBe(false);
  });

  it("an award's versions encode on loyalty.points.v1 and loyalty.campaigns.v1 at the maximum", () => {
    const points = avroTypeOf(TOPICS.points);
    const campaigns = avroTypeOf(TOPICS.campaigns);
    const ruleVersionOf = (t: typeof points, field: string) =>
      // The field's own type, whatever the record's other fields are.
      (t as unknown as { getField(n: string): { type: { isValid(v: unknown): boolean } } }).getField(field)
        .type;
    expect(ruleVersionOf(points, "ruleVersion").isValid(MAX_INT)).toBe(true);
    expect(ruleVersionOf(points, "ruleSetVersion").isValid(MAX_INT)).toBe(true);
    expect(ruleVersionOf(campaigns, "ruleVersion").isValid(MAX_INT)).toBe(true);
    expect(ruleVersionOf(points, "ruleSetVersion").isValid(MAX_INT + 1)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { validateRuleSet } from "../../src/rules/validate.ts";
import { BASE_RULE, rule, ruleSet } from "./helpers.ts";

type Json = Record<string, unknown>;

function errorsOf(json: unknown) {
  const r = validateRuleSet(json);
  if (r.ok) throw new Error("expected validation errors");
  return r.errors;
}

/** Exactly one error, for the given rule, at the given path, mentioning `problem`. */
function expectOne(json: unknown, ruleId: string | null, path: string, problem: RegExp): void {
  const errors = errorsOf(json);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ ruleId, path });
  expect(errors[0]?.problem).toMatch(problem);
}

const leaf = (c: Json) => rule({ conditions: { all: [c] } });

describe("validateRuleSet", () => {
  it("accepts a well-formed set and returns a copy", () => {
    const input = ruleSet([BASE_RULE, rule({ id: "bonus" })]);
    const r = validateRuleSet(input);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.ruleSet).toEqual(input);
      expect(r.ruleSet).not.toBe(input);
    }
  });

  it("unknown fact", () => {
    expectOne(
      ruleSet([
        rule({
          conditions: {
            all: [
              { fact: "member.tier", operator: "equal", value: "a" },
              { fact: "order.colour", operator: "equal", value: "red" },
            ],
          },
        }),
      ]),
      "r1",
      "$.rules[0].conditions.all[1].fact",
      /unknown fact "order.colour"/,
    );
  });

  it("fact not available for the trigger", () => {
    expectOne(
      ruleSet([
        rule({
          trigger: "member.registered",
          conditions: { all: [{ fact: "order.channel", operator: "equal", value: "web" }] },
        }),
      ]),
      "r1",
      "$.rules[0].conditions.all[0].fact",
      /not available for trigger "member.registered"/,
    );
  });

  it("unknown operator", () => {
    expectOne(
      ruleSet([
        rule({
          conditions: {
            any: [
              {
                all: [
                  { fact: "member.tier", operator: "equal", value: "gold" },
                  { fact: "member.tier", operator: "startsWith", value: "g" },
                ],
              },
            ],
          },
        }),
      ]),
      "r1",
      "$.rules[0].conditions.any[0].all[1].operator",
      /unknown operator "startsWith"/,
    );
  });

  it("operator decorators of json-rules-engine are not accepted", () => {
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "not:equal", value: "gold" })]),
      "r1",
      "$.rules[0].conditions.all[0].operator",
      /unknown operator/,
    );
  });

  it("value type does not match the fact", () => {
    expectOne(
      ruleSet([leaf({ fact: "order.amountMinor", operator: "equal", value: "100" })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /does not match type number/,
    );
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "greaterThan", value: 3 })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /needs a number fact/,
    );
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "contains", value: "g" })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /needs an array fact/,
    );
    expectOne(
      ruleSet([leaf({ fact: "order.categories", operator: "equal", value: "jazz" })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /use contains/,
    );
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "in", value: "gold" })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /needs an array value/,
    );
    expectOne(
      ruleSet([leaf({ fact: "order.lines", operator: "contains", value: "x" })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /add a path/,
    );
  });

  it("bad condition paths", () => {
    expectOne(
      ruleSet([leaf({ fact: "order.lines", path: "$..category", operator: "contains", value: "x" })]),
      "r1",
      "$.rules[0].conditions.all[0].path",
      /unsupported path syntax/,
    );
    expectOne(
      ruleSet([leaf({ fact: "order.lines", path: "$[?(@.x)]", operator: "equal", value: 1 })]),
      "r1",
      "$.rules[0].conditions.all[0].path",
      /unsupported path syntax/,
    );
    expectOne(
      ruleSet([leaf({ fact: "member.tier", path: "$.x", operator: "equal", value: "a" })]),
      "r1",
      "$.rules[0].conditions.all[0].path",
      /only applies to array facts/,
    );
  });

  it("fact references: known fact, not with in/notIn", () => {
    expectOne(
      ruleSet([leaf({ fact: "order.amountMinor", operator: "greaterThan", value: { fact: "member.nope" } })]),
      "r1",
      "$.rules[0].conditions.all[0].value.fact",
      /unknown fact/,
    );
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "in", value: { fact: "member.segment" } })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /literal array/,
    );
  });

  it("unparseable validity timestamps", () => {
    expectOne(
      ruleSet([rule({ validity: { from: "2025-02-30T00:00:00Z" } })]),
      "r1",
      "$.rules[0].validity.from",
      /ISO-8601/,
    );
    expectOne(
      ruleSet([rule({ validity: { until: "2025-01-01" } })]),
      "r1",
      "$.rules[0].validity.until",
      /ISO-8601/,
    );
    expectOne(
      ruleSet([rule({ validity: { from: "2025-01-01T00:00:00" } })]),
      "r1",
      "$.rules[0].validity.from",
      /with offset/,
    );
  });

  it("inverted or empty validity window", () => {
    expectOne(
      ruleSet([rule({ validity: { from: "2025-02-01T00:00:00Z", until: "2025-01-01T00:00:00Z" } })]),
      "r1",
      "$.rules[0].validity.until",
      /empty or inverted/,
    );
    expectOne(
      ruleSet([rule({ validity: { from: "2025-01-01T01:00:00+01:00", until: "2025-01-01T00:00:00Z" } })]),
      "r1",
      "$.rules[0].validity.until",
      /empty or inverted/,
    );
  });

  it("unknown action type", () => {
    expectOne(
      ruleSet([rule({ event: { type: "cashback", params: {} } })]),
      "r1",
      "$.rules[0].event.type",
      /must be one of/,
    );
  });

  it("bad action params", () => {
    expectOne(
      ruleSet([rule({ event: { type: "points-per-unit", params: { rate: 1.1, rounding: "floor" } } })]),
      "r1",
      "$.rules[0].event.params.rate",
      /decimal string/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "points-per-unit", params: { rate: "1e3", rounding: "floor" } } })]),
      "r1",
      "$.rules[0].event.params.rate",
      /decimal string/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "points-per-unit", params: { rate: "0", rounding: "floor" } } })]),
      "r1",
      "$.rules[0].event.params.rate",
      /greater than zero/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "points-per-unit", params: { rate: "1", rounding: "bankers" } } })]),
      "r1",
      "$.rules[0].event.params.rounding",
      /must be one of/,
    );
    expectOne(
      ruleSet([
        BASE_RULE,
        rule({
          event: { type: "multiplier", params: { factor: "0.5", appliesTo: "base", rounding: "floor" } },
        }),
      ]),
      "r1",
      "$.rules[1].event.params.factor",
      /greater than 1/,
    );
    expectOne(
      ruleSet([
        BASE_RULE,
        rule({
          event: { type: "multiplier", params: { factor: "2", appliesTo: "total", rounding: "floor" } },
        }),
      ]),
      "r1",
      "$.rules[1].event.params.appliesTo",
      /must be one of base/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "campaign", params: { campaignId: "c1", reward: "free cd" } } })]),
      "r1",
      "$.rules[0].event.params.reward",
      /must be an object/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "fixed-bonus", params: { points: 5, bonus: 1 } } })]),
      "r1",
      "$.rules[0].event.params.bonus",
      /unknown key/,
    );
  });

  it("actions that do not fit the trigger", () => {
    expectOne(
      ruleSet([
        rule({
          trigger: "member.registered",
          event: { type: "points-per-unit", params: { rate: "1", rounding: "floor" } },
        }),
      ]),
      "r1",
      "$.rules[0].event.type",
      /needs an order amount/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "fixed-bonus", params: { points: 5, recipient: "referrer" } } })]),
      "r1",
      "$.rules[0].event.params.recipient",
      /only exists for trigger "member.referred"/,
    );
    expectOne(
      ruleSet([
        rule({
          event: { type: "multiplier", params: { factor: "2", appliesTo: "base", rounding: "floor" } },
        }),
      ]),
      "r1",
      "$.rules[0].event.type",
      /no points-per-unit rule/,
    );
  });

  it("non-integer or negative points", () => {
    expectOne(
      ruleSet([rule({ event: { type: "fixed-bonus", params: { points: 2.5 } } })]),
      "r1",
      "$.rules[0].event.params.points",
      /must be an integer/,
    );
    expectOne(
      ruleSet([rule({ event: { type: "fixed-bonus", params: { points: -5 } } })]),
      "r1",
      "$.rules[0].event.params.points",
      /between 1 and/,
    );
    expectOne(
      ruleSet([rule({ budget: { totalPoints: 0 } })]),
      "r1",
      "$.rules[0].budget.totalPoints",
      /between 1 and/,
    );
    expectOne(
      ruleSet([rule({ caps: { perMemberPerDay: 1.5 } })]),
      "r1",
      "$.rules[0].caps.perMemberPerDay",
      /must be an integer/,
    );
  });

  it("duplicate rule ids", () => {
    expectOne(
      ruleSet([rule(), rule()]),
      "r1",
      "$.rules[1].id",
      /duplicate rule id "r1" \(also \$.rules\[0\]\)/,
    );
  });

  it("prototype keys anywhere", () => {
    const withProto = JSON.parse(
      '{"id":"test","version":1,"rules":[{"id":"r1","version":1,"name":"n","status":"active","priority":1,"trigger":"order.placed","conditions":{"all":[]},"event":{"type":"campaign","params":{"campaignId":"c","reward":{"a":{"__proto__":{"polluted":true}}}}}}]}',
    );
    expectOne(withProto, "r1", "$.rules[0].event.params.reward.a.__proto__", /forbidden key "__proto__"/);
    expectOne(
      ruleSet([rule({ constructor: 1 })]),
      "r1",
      "$.rules[0].constructor",
      /forbidden key "constructor"/,
    );
    expect(errorsOf({ ...ruleSet([]), prototype: {} })).toEqual([
      { ruleId: null, path: "$.prototype", problem: 'forbidden key "prototype"' },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("prototype segments in fact names, paths and counter ids", () => {
    expectOne(
      ruleSet([leaf({ fact: "member.__proto__", operator: "equal", value: 1 })]),
      "r1",
      "$.rules[0].conditions.all[0].fact",
      /forbidden segment/,
    );
    expectOne(
      ruleSet([leaf({ fact: "counters.constructor.memberCount", operator: "equal", value: 1 })]),
      "r1",
      "$.rules[0].conditions.all[0].fact",
      /forbidden segment/,
    );
    expectOne(
      ruleSet([leaf({ fact: "order.lines", path: "$[0].constructor", operator: "equal", value: 1 })]),
      "r1",
      "$.rules[0].conditions.all[0].path",
      /forbidden/,
    );
    expectOne(ruleSet([rule({ id: "constructor" })]), null, "$.rules[0].id", /must match/);
  });

  it("exclusive group spanning triggers", () => {
    expectOne(
      ruleSet([
        rule({ id: "a", exclusiveGroup: "g" }),
        rule({ id: "b", exclusiveGroup: "g", trigger: "member.registered" }),
      ]),
      "b",
      "$.rules[1].exclusiveGroup",
      /spans triggers/,
    );
  });

  it("exclusive group mixing base and multiplier", () => {
    expectOne(
      ruleSet([
        { ...BASE_RULE, exclusiveGroup: "g" },
        rule({
          id: "m",
          exclusiveGroup: "g",
          event: { type: "multiplier", params: { factor: "2", appliesTo: "base", rounding: "floor" } },
        }),
      ]),
      "m",
      "$.rules[1].exclusiveGroup",
      /mixes points-per-unit and multiplier/,
    );
  });

  it("deep nesting", () => {
    let c: Json = { fact: "member.tier", operator: "equal", value: "gold" };
    for (let i = 0; i < 9; i++) c = { all: [c] };
    const errors = errorsOf(ruleSet([rule({ conditions: c })]));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe(`$.rules[0].conditions${".all[0]".repeat(8)}.all`);
    expect(errors[0]?.problem).toMatch(/nested deeper than 8/);
    let ok: Json = { fact: "member.tier", operator: "equal", value: "gold" };
    for (let i = 0; i < 8; i++) ok = { all: [ok] };
    expect(validateRuleSet(ruleSet([rule({ conditions: ok })])).ok).toBe(true);
  });

  it("pathological JSON depth does not recurse", () => {
    let v: unknown = 1;
    for (let i = 0; i < 100; i++) v = { a: v };
    const errors = errorsOf(
      ruleSet([rule({ event: { type: "campaign", params: { campaignId: "c", reward: v } } })]),
    );
    expect(errors[0]?.problem).toMatch(/JSON nested deeper than 32/);
  });

  it("unknown keys at every level", () => {
    expectOne({ ...ruleSet([]), extra: 1 }, null, "$.extra", /unknown key "extra"/);
    expectOne(ruleSet([rule({ trigerr: "x" })]), "r1", "$.rules[0].trigerr", /unknown key/);
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "equal", value: "a", params: {} })]),
      "r1",
      "$.rules[0].conditions.all[0].params",
      /unknown key/,
    );
    expectOne(
      ruleSet([rule({ conditions: { all: [], priority: 2 } })]),
      "r1",
      "$.rules[0].conditions.priority",
      /unknown key/,
    );
  });

  it("structural condition errors", () => {
    expectOne(
      ruleSet([rule({ conditions: { fact: "member.tier", operator: "equal", value: "a" } })]),
      "r1",
      "$.rules[0].conditions",
      /root must be/,
    );
    expectOne(ruleSet([rule({ conditions: { any: [] } })]), "r1", "$.rules[0].conditions.any", /empty "any"/);
    expectOne(
      ruleSet([rule({ conditions: { not: [] } })]),
      "r1",
      "$.rules[0].conditions.not",
      /one condition object/,
    );
    expectOne(
      ruleSet([rule({ conditions: { all: [], any: [] } })]),
      "r1",
      "$.rules[0].conditions",
      /several boolean operators/,
    );
    expectOne(
      ruleSet([leaf({ fact: "member.tier", operator: "equal" })]),
      "r1",
      "$.rules[0].conditions.all[0].value",
      /missing required/,
    );
  });

  it("bad status, trigger, priority, version and names", () => {
    expectOne(ruleSet([rule({ status: "live" })]), "r1", "$.rules[0].status", /must be one of draft/);
    expectOne(
      ruleSet([rule({ trigger: "purchase" })]),
      "r1",
      "$.rules[0].trigger",
      /must be one of order.placed/,
    );
    expectOne(ruleSet([rule({ priority: 0 })]), "r1", "$.rules[0].priority", /between 1 and/);
    expectOne(ruleSet([rule({ version: "2" })]), "r1", "$.rules[0].version", /must be an integer/);
    expectOne(ruleSet([rule({ name: "" })]), "r1", "$.rules[0].name", /1..200/);
  });

  it("budgets and caps on a campaign action", () => {
    expectOne(
      ruleSet([
        rule({
          budget: { totalPoints: 10 },
          event: { type: "campaign", params: { campaignId: "c", reward: {} } },
        }),
      ]),
      "r1",
      "$.rules[0].budget",
      /awards none/,
    );
  });

  it("reports every error, not only the first", () => {
    const errors = errorsOf(ruleSet([rule({ status: "x", priority: -1 }), rule({ id: "r2", trigger: "y" })]));
    expect(errors.map((e) => [e.ruleId, e.path])).toEqual([
      ["r1", "$.rules[0].status"],
      ["r1", "$.rules[0].priority"],
      ["r2", "$.rules[1].trigger"],
    ]);
  });

  it("non-object input", () => {
    expect(errorsOf(null)).toEqual([
      { ruleId: null, path: "$", problem: "rule set must be an object, got null" },
    ]);
    expect(errorsOf({ id: "x", version: 1 })).toEqual([
      { ruleId: null, path: "$.rules", problem: '"rules" must be an array' },
    ]);
  });
});

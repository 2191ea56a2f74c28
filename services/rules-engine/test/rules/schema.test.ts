// schemas/ruleset.schema.json: generated from the validator's constants (src/rules/schema.ts),
// checked here with ajv against the validator: what the validator accepts the schema accepts, and
// the invalid drafts below are rejected by both. Regenerate the file after a format change with
//   UPDATE_SCHEMA=1 pnpm exec vitest run test/rules/schema.test.ts
// then `pnpm exec biome format --write schemas/ruleset.schema.json` from the repository root (the
// comparison is of the parsed JSON, so the layout is biome's).
import { readFileSync, writeFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { ruleSetJsonSchema } from "../../src/rules/schema.ts";
import { validateRuleSet } from "../../src/rules/validate.ts";

const REPO = new URL("../../../../", import.meta.url);
const SCHEMA_FILE = new URL("schemas/ruleset.schema.json", REPO);
const STANDARD_FILE = new URL("rules/standard/ruleset.json", REPO);

type Json = Record<string, unknown>;
const standard = (): Json => JSON.parse(readFileSync(STANDARD_FILE, "utf8")) as Json;

const generated = `${JSON.stringify(ruleSetJsonSchema(), null, 2)}\n`;
if (process.env.UPDATE_SCHEMA === "1") writeFileSync(SCHEMA_FILE, generated);
const published = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as Json;

// Strict, except strictTypes: the if/then refinements add "properties" to objects typed elsewhere.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
const schemaValidate = ajv.compile(published);
const bySchema = (json: unknown): boolean => schemaValidate(json) === true;
const byValidator = (json: unknown): boolean => validateRuleSet(json).ok;

/** The standard set with its first rule replaced by `f(rule)`. */
function withRule(f: (r: Json) => Json, index = 0): Json {
  const s = standard();
  const rules = [...(s.rules as Json[])];
  rules[index] = f(structuredClone(rules[index] as Json));
  return { ...s, rules };
}

const referralIndex = () => (standard().rules as Json[]).findIndex((r) => r.trigger === "member.referred");

describe("schemas/ruleset.schema.json", () => {
  it("is what src/rules/schema.ts generates (regenerate with UPDATE_SCHEMA=1)", () => {
    expect(published).toEqual(JSON.parse(generated));
  });

  it("is a valid draft 2020-12 schema for ajv in strict mode", () => {
    expect(published.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(typeof schemaValidate).toBe("function");
  });

  it("accepts rules/standard/ruleset.json, as the validator does", () => {
    const s = standard();
    expect(bySchema(s)).toBe(true);
    expect(schemaValidate.errors ?? []).toEqual([]);
    expect(byValidator(s)).toBe(true);
  });

  it("accepts the other forms the validator accepts", () => {
    const accepted: Json[] = [
      // rational as {numerator, denominator}; a fact reference; a path into order lines; counters
      withRule((r) => ({
        ...r,
        event: {
          type: "points-per-unit",
          params: { rate: { numerator: 3, denominator: 2 }, rounding: "half-even" },
        },
      })),
      withRule((r) => ({
        ...r,
        conditions: {
          all: [
            {
              fact: "order.baseAmountMinor",
              operator: "greaterThan",
              value: { fact: "member.lifetimeSpendMinor" },
            },
            { fact: "order.lines", path: "$[*].category", operator: "contains", value: "jazz" },
            { fact: "counters.spring-sale.memberCount", operator: "lessThan", value: 3 },
            { not: { fact: "order.channel", operator: "in", value: ["phone", "mail"] } },
          ],
        },
      })),
      withRule((r) => ({
        ...r,
        validity: { from: "2025-01-01T00:00:00-05:00", until: "2026-01-01T00:00:00.000Z" },
      })),
      { ...standard(), $schema: "../../schemas/ruleset.schema.json" },
    ];
    for (const json of accepted) {
      expect(byValidator(json), JSON.stringify(validateRuleSet(json))).toBe(true);
      expect(bySchema(json), JSON.stringify(schemaValidate.errors)).toBe(true);
    }
  });

  const invalid: Array<[string, () => unknown]> = [
    ["not an object", () => []],
    ["rules is not an array", () => ({ ...standard(), rules: {} })],
    ["unknown top-level key", () => ({ ...standard(), owner: "marketing" })],
    ["$schema that is not a string", () => ({ ...standard(), $schema: 1 })],
    ["version 0", () => ({ ...standard(), version: 0 })],
    ["rule set id with capitals", () => ({ ...standard(), id: "Standard" })],
    ["priority as text", () => withRule((r) => ({ ...r, priority: "high" }))],
    ["priority above the limit", () => withRule((r) => ({ ...r, priority: 10_001 }))],
    ["unknown status", () => withRule((r) => ({ ...r, status: "live" }))],
    ["unknown trigger", () => withRule((r) => ({ ...r, trigger: "order.shipped" }))],
    ["missing name", () => withRule(({ name: _, ...r }) => r)],
    ["unknown rule key", () => withRule((r) => ({ ...r, owner: "me" }))],
    [
      "unknown operator",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { all: [{ fact: "order.amountMinor", operator: "gt", value: 1 }] },
        })),
    ],
    [
      "unknown fact",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { all: [{ fact: "order.colour", operator: "equal", value: "red" }] },
        })),
    ],
    [
      "a fact its trigger does not have",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { all: [{ fact: "churn.score", operator: "greaterThan", value: 50 }] },
        })),
    ],
    [
      "a leaf at the root",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { fact: "order.amountMinor", operator: "greaterThan", value: 0 },
        })),
    ],
    ["an empty any", () => withRule((r) => ({ ...r, conditions: { any: [] } }))],
    [
      "two boolean operators in one node",
      () => withRule((r) => ({ ...r, conditions: { all: [], any: [] } })),
    ],
    [
      "in without an array",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { all: [{ fact: "order.channel", operator: "in", value: "web" }] },
        })),
    ],
    [
      "greaterThan a string",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { all: [{ fact: "order.amountMinor", operator: "greaterThan", value: "10" }] },
        })),
    ],
    [
      "extra key in a condition",
      () =>
        withRule((r) => ({
          ...r,
          conditions: { all: [{ fact: "order.amountMinor", operator: "greaterThan", value: 0, note: "x" }] },
        })),
    ],
    ["unknown event type", () => withRule((r) => ({ ...r, event: { type: "no-such-award", params: {} } }))],
    [
      "points-per-unit without a rate",
      () => withRule((r) => ({ ...r, event: { type: "points-per-unit", params: { rounding: "floor" } } })),
    ],
    [
      "a rate that is not a decimal",
      () =>
        withRule((r) => ({
          ...r,
          event: { type: "points-per-unit", params: { rate: "1,5", rounding: "floor" } },
        })),
    ],
    [
      "unknown rounding",
      () =>
        withRule((r) => ({
          ...r,
          event: { type: "points-per-unit", params: { rate: "1", rounding: "up" } },
        })),
    ],
    [
      "fixed bonus of 0 points",
      () => withRule((r) => ({ ...r, event: { type: "fixed-bonus", params: { points: 0 } } })),
    ],
    [
      "a campaign with a budget",
      () =>
        withRule((r) => ({
          ...r,
          budget: { totalPoints: 10 },
          event: { type: "campaign", params: { campaignId: "c", reward: {} } },
        })),
    ],
    [
      "recipient referrer on order.placed",
      () =>
        withRule((r) => ({
          ...r,
          event: { type: "fixed-bonus", params: { points: 5, recipient: "referrer" } },
        })),
    ],
    [
      "points per unit on member.referred (no order amount)",
      () =>
        withRule(
          (r) => ({ ...r, event: { type: "points-per-unit", params: { rate: "1", rounding: "floor" } } }),
          referralIndex(),
        ),
    ],
    [
      "validity without an offset",
      () => withRule((r) => ({ ...r, validity: { from: "2025-01-01T00:00:00" } })),
    ],
    ["caps of 0", () => withRule((r) => ({ ...r, caps: { perMemberPerDay: 0 } }))],
    ["an empty targeting list", () => withRule((r) => ({ ...r, targeting: { tiers: [] } }))],
    ["an exclusive group with spaces", () => withRule((r) => ({ ...r, exclusiveGroup: "tier multiplier" }))],
  ];

  it.each(invalid)("rejects %s, as the validator does", (_, make) => {
    const json = make();
    expect(byValidator(json)).toBe(false);
    expect(bySchema(json)).toBe(false);
  });

  it("leaves to the validator what a schema cannot say", () => {
    const s = standard();
    const rules = s.rules as Json[];
    const beyond: unknown[] = [
      { ...s, rules: [...rules, rules[0]] }, // duplicate rule id
      withRule(
        (r) => ({
          ...r,
          event: { type: "multiplier", params: { factor: "0.5", appliesTo: "base", rounding: "floor" } },
        }),
        1,
      ), // factor <= 1
      withRule((r) => ({ ...r, validity: { from: "2025-02-30T00:00:00Z" } })), // no such day
      withRule((r) => ({
        ...r,
        conditions: { all: [{ fact: "order.channel", operator: "equal", value: 3 }] },
      })), // type of the fact
    ];
    for (const json of beyond) {
      expect(byValidator(json)).toBe(false);
      expect(bySchema(json)).toBe(true);
    }
  });
});

describe("validateRuleSet and $schema", () => {
  it("accepts a $schema string and leaves it out of the validated set", () => {
    const r = validateRuleSet({ ...standard(), $schema: "../../schemas/ruleset.schema.json" });
    expect(r.ok).toBe(true);
    if (r.ok) expect(Object.hasOwn(r.ruleSet, "$schema")).toBe(false);
  });

  it("rejects a $schema that is not a string, naming it", () => {
    const r = validateRuleSet({ ...standard(), $schema: { url: "x" } });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors).toEqual([
        { ruleId: null, path: "$.$schema", problem: '"$schema" must be a string, got object' },
      ]);
  });
});

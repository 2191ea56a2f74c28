import { MAX_RATIONAL_PART } from "./arith.ts";
import { FACTS } from "./catalogue.ts";
import { OPERATORS, ROUNDINGS, STATUSES, TRIGGERS, type Trigger } from "./types.ts";
import { LIMITS } from "./validate.ts";

// The JSON Schema (draft 2020-12) of rule-set files, built from the same constants the validator
// uses (triggers, statuses, operators, roundings, the fact catalogue, LIMITS). The published copy
// is schemas/ruleset.schema.json; test/rules/schema.test.ts checks it equals ruleSetJsonSchema()
// and that the schema rejects what the validator rejects where a schema can say it. What it
// cannot say (the validator still checks): a fact's value type against the operand, rate > 0 and
// factor > 1, impossible calendar dates, duplicate rule ids, exclusive-group consistency, nesting
// depth and condition counts, reward size, and the programme's amount limits (a fixed bonus, rate
// or multiplier that can award more than maxPointsPerEntry: they depend on programme.json).

export const RULESET_SCHEMA_ID = "https://loyalty-engine.dev/schemas/ruleset.schema.json";

const ID_PATTERN = "^[a-z0-9][a-z0-9_-]{0,63}$";
const COUNTER_PATTERN = "^counters\\.[a-z0-9][a-z0-9_-]{0,63}\\.(memberCount|memberPoints)$";
const DECIMAL_PATTERN = "^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,6})?$";
const TIMESTAMP_PATTERN =
  "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d{1,3})?)?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$";
const SAFE = Number.MAX_SAFE_INTEGER;

type Schema = Record<string, unknown>;

const int = (minimum: number, maximum: number, description?: string): Schema => ({
  type: "integer",
  minimum,
  maximum,
  ...(description ? { description } : {}),
});

const sameObject = (properties: Schema, required: string[], description?: string): Schema => ({
  type: "object",
  ...(description ? { description } : {}),
  properties,
  required,
  additionalProperties: false,
});

/** Defs per trigger: which facts a condition may name (the catalogue's triggers). */
function conditionDefs(trigger: Trigger): Record<string, Schema> {
  const t = trigger.replace(".", "-");
  const facts = Object.keys(FACTS)
    .filter((name) => FACTS[name]?.triggers.includes(trigger))
    .sort();
  const factName: Schema = { anyOf: [{ enum: facts }, { type: "string", pattern: COUNTER_PATTERN }] };
  const node = `#/$defs/condition-${t}`;
  return {
    [`fact-${t}`]: factName,
    [`root-${t}`]: {
      description: `Conditions of a "${trigger}" rule: one "all", "any" or "not" at the root.`,
      oneOf: [
        sameObject({ all: { type: "array", items: { $ref: node } } }, ["all"]),
        sameObject({ any: { type: "array", minItems: 1, items: { $ref: node } } }, ["any"]),
        sameObject({ not: { $ref: node } }, ["not"]),
      ],
    },
    [`condition-${t}`]: {
      oneOf: [
        sameObject({ all: { type: "array", items: { $ref: node } } }, ["all"]),
        sameObject({ any: { type: "array", minItems: 1, items: { $ref: node } } }, ["any"]),
        sameObject({ not: { $ref: node } }, ["not"]),
        {
          allOf: [
            { $ref: "#/$defs/leaf" },
            {
              properties: {
                fact: { $ref: `#/$defs/fact-${t}` },
                value: {
                  if: { type: "object" },
                  // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
                  then: { properties: { fact: { $ref: `#/$defs/fact-${t}` } } },
                },
              },
            },
          ],
        },
      ],
    },
  };
}

const scalar: Schema = { type: ["string", "number", "boolean", "null"] };
const factRef: Schema = sameObject(
  { fact: { type: "string" }, path: { type: "string" } },
  ["fact"],
  "Compare against another fact instead of a literal.",
);

function leaf(): Schema {
  const numeric = ["lessThan", "lessThanInclusive", "greaterThan", "greaterThanInclusive"];
  const when = (ops: string[], value: Schema): Schema => ({
    if: { properties: { operator: { enum: ops } }, required: ["operator"] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
    then: { properties: { value } },
  });
  return {
    type: "object",
    description:
      "A comparison: fact, operator, value (a literal or {fact, path?}), and a path into array facts.",
    properties: {
      fact: { type: "string" },
      operator: { enum: [...OPERATORS] },
      value: { anyOf: [scalar, { type: "array", items: scalar }, factRef] },
      path: { type: "string", description: "JSONPath-like selector into an array fact, e.g. $[*].category" },
    },
    required: ["fact", "operator", "value"],
    additionalProperties: false,
    allOf: [
      when(["equal", "notEqual", "contains", "doesNotContain"], { anyOf: [scalar, factRef] }),
      when(["in", "notIn"], { type: "array", maxItems: LIMITS.maxInValues, items: scalar }),
      when(numeric, { anyOf: [{ type: "number" }, factRef] }),
    ],
  };
}

const rational: Schema = {
  description: `A decimal string like "1.25", or {numerator, denominator} with integers up to ${MAX_RATIONAL_PART}.`,
  anyOf: [
    { type: "string", pattern: DECIMAL_PATTERN },
    sameObject({ numerator: int(0, MAX_RATIONAL_PART), denominator: int(1, MAX_RATIONAL_PART) }, [
      "numerator",
      "denominator",
    ]),
  ],
};

function event(): Schema {
  const rounding = { enum: [...ROUNDINGS] };
  const params: Record<string, Schema> = {
    "points-per-unit": sameObject({ rate: { $ref: "#/$defs/rational" }, rounding }, ["rate", "rounding"]),
    multiplier: sameObject({ factor: { $ref: "#/$defs/rational" }, appliesTo: { const: "base" }, rounding }, [
      "factor",
      "appliesTo",
      "rounding",
    ]),
    "fixed-bonus": sameObject(
      { points: int(1, LIMITS.maxPoints), recipient: { enum: ["member", "referrer"] } },
      ["points"],
    ),
    campaign: sameObject(
      { campaignId: { type: "string", pattern: ID_PATTERN }, reward: { type: "object" } },
      ["campaignId", "reward"],
    ),
  };
  return {
    type: "object",
    description: "What a matching rule does.",
    properties: { type: { enum: Object.keys(params) }, params: { type: "object" } },
    required: ["type", "params"],
    additionalProperties: false,
    allOf: Object.entries(params).map(([type, p]) => ({
      if: { properties: { type: { const: type } }, required: ["type"] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
      then: { properties: { params: p } },
    })),
  };
}

function rule(): Schema {
  const stringList: Schema = {
    type: "array",
    minItems: 1,
    uniqueItems: true,
    items: { type: "string", minLength: 1 },
  };
  const byTrigger = TRIGGERS.map((trigger) => ({
    if: { properties: { trigger: { const: trigger } }, required: ["trigger"] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
    then: { properties: { conditions: { $ref: `#/$defs/root-${trigger.replace(".", "-")}` } } },
  }));
  const eventOf = (types: string[]): Schema => ({
    properties: { event: { properties: { type: { enum: types } }, required: ["type"] } },
    required: ["event"],
  });
  return {
    type: "object",
    properties: {
      id: { type: "string", pattern: ID_PATTERN },
      version: int(1, LIMITS.maxVersion),
      name: { type: "string", minLength: 1, maxLength: 200 },
      description: { type: "string" },
      status: { enum: [...STATUSES] },
      validity: sameObject(
        {
          from: { type: "string", pattern: TIMESTAMP_PATTERN, description: "inclusive, event time" },
          until: { type: "string", pattern: TIMESTAMP_PATTERN, description: "exclusive, event time" },
        },
        [],
        "ISO-8601 timestamps with an offset, e.g. 2025-01-01T00:00:00Z",
      ),
      priority: int(1, LIMITS.maxPriority),
      exclusiveGroup: { type: "string", pattern: ID_PATTERN },
      budget: sameObject({ totalPoints: int(1, SAFE) }, ["totalPoints"]),
      caps: sameObject({ perMemberPerDay: int(1, LIMITS.maxPoints), perMemberPerCampaign: int(1, SAFE) }, []),
      targeting: sameObject({ tiers: stringList, segments: stringList }, []),
      trigger: { enum: [...TRIGGERS] },
      conditions: { type: "object" },
      event: { $ref: "#/$defs/event" },
    },
    required: ["id", "version", "name", "status", "priority", "trigger", "conditions", "event"],
    additionalProperties: false,
    allOf: [
      ...byTrigger,
      {
        description: "A campaign action awards no points: no budget, no caps.",
        if: eventOf(["campaign"]),
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
        then: { not: { anyOf: [{ required: ["budget"] }, { required: ["caps"] }] } },
      },
      {
        description: "points-per-unit and multiplier need an order amount.",
        if: eventOf(["points-per-unit", "multiplier"]),
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
        then: { properties: { trigger: { const: "order.placed" } } },
      },
      {
        description: 'recipient "referrer" only exists for member.referred.',
        if: {
          properties: {
            event: {
              properties: {
                params: { properties: { recipient: { const: "referrer" } }, required: ["recipient"] },
              },
            },
          },
          required: ["event"],
        },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
        then: { properties: { trigger: { const: "member.referred" } } },
      },
    ],
  };
}

/** The rule-set file schema; schemas/ruleset.schema.json holds its JSON (2-space indent). */
export function ruleSetJsonSchema(): Schema {
  const defs: Record<string, Schema> = {
    rule: rule(),
    event: event(),
    rational,
    leaf: leaf(),
  };
  for (const t of TRIGGERS) Object.assign(defs, conditionDefs(t));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: RULESET_SCHEMA_ID,
    title: "Loyalty engine rule set",
    description:
      "A rule-set file (rules/*/ruleset.json). Generated from services/rules-engine/src/rules/schema.ts; " +
      "the format is services/rules-engine/src/rules/FORMAT.md. The engine's validator (loyalty rules validate) " +
      "is the authority: it also checks what a schema cannot (value types per fact, rate > 0, factor > 1, " +
      "duplicate rule ids, exclusive groups, nesting limits).",
    type: "object",
    properties: {
      $schema: { type: "string", description: "Where editors find this schema; ignored by the engine." },
      id: { type: "string", pattern: ID_PATTERN },
      version: int(1, LIMITS.maxVersion),
      description: { type: "string" },
      rules: { type: "array", maxItems: LIMITS.maxRules, items: { $ref: "#/$defs/rule" } },
    },
    required: ["id", "version", "rules"],
    additionalProperties: false,
    $defs: defs,
  };
}

import { Engine, type RuleProperties } from "json-rules-engine";
import { describe, expect, it } from "vitest";
import { compileCondition, compileRuleSet } from "../../src/rules/compile.ts";
import { evaluate } from "../../src/rules/evaluate.ts";
import type { Condition, Facts, Rule } from "../../src/rules/types.ts";
import { validateRuleSet } from "../../src/rules/validate.ts";
import { factNamesOf, flattenFacts, toJsonRulesEngineRule } from "../support/interop.ts";
import { NOW, PROGRAMME } from "./helpers.ts";

// Differential test: for random rule sets (nested all/any/not, every operator, paths on arrays,
// fact references) and random, partly ill-typed facts, the rules our compiled predicates match
// must be exactly the rules json-rules-engine fires (allowUndefinedFacts: true, same facts).

type Rand = () => number;
function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const chance = (r: Rand, p: number): boolean => r() < p;

const STR = ["rock", "jazz", "pop", "gold", "silver", "web", "app", "", "12", "3.5abc", "x"];
const NUM = [0, 1, 2, 3, 5, 10, 12, 100, 1000, -1, 2.5];
const SKUS = ["a", "b", "c"];
const CATS = ["rock", "jazz", "pop"];

type Kind = "number" | "string" | "boolean" | "string-array" | "object-array";
const FACT_POOL: Array<[string, Kind, boolean]> = [
  ["order.amountMinor", "number", false],
  ["order.baseAmountMinor", "number", false],
  ["order.quantity", "number", false],
  ["order.dayOfWeek", "number", false],
  ["order.channel", "string", false],
  ["order.storeId", "string", true],
  ["order.categories", "string-array", false],
  ["order.skus", "string-array", false],
  ["order.lines", "object-array", false],
  ["member.tier", "string", false],
  ["member.orderCount", "number", false],
  ["member.isBirthdayMonth", "boolean", false],
  ["member.atRisk", "boolean", false],
  ["member.daysSinceLastPurchase", "number", true],
  ["member.segment", "string", true],
  ["counters.summer.memberCount", "number", false],
];
const PATHS = [
  "$[0].category",
  "$[1].quantity",
  "$[*].category",
  "$[*].quantity",
  "$.*.sku",
  "$[0]",
  "$",
  "$[*]",
  "$.length",
  "$[2].unitPriceMinor",
  "$[0].nope",
];
const NUMERIC = ["lessThan", "lessThanInclusive", "greaterThan", "greaterThanInclusive"] as const;

function scalarOf(r: Rand, kind: Kind, nullable: boolean): string | number | boolean | null {
  if (nullable && chance(r, 0.15)) return null;
  if (kind === "number") return pick(r, NUM);
  if (kind === "boolean") return chance(r, 0.5);
  return pick(r, kind === "string-array" ? [...CATS, ...SKUS] : STR);
}

function anyScalar(r: Rand): string | number | boolean | null {
  return pick(r, [
    () => pick(r, STR),
    () => pick(r, NUM),
    () => chance(r, 0.5),
    () => null,
    () => pick(r, CATS),
  ])();
}

/** A leaf the validator accepts; the facts it is evaluated against may still be ill-typed. */
function validLeaf(r: Rand): Condition {
  const [fact, kind, nullable] = pick(r, FACT_POOL);
  const isArray = kind === "string-array" || kind === "object-array";
  const withPath = kind === "object-array" || (kind === "string-array" && chance(r, 0.2));
  if (withPath) {
    const path = pick(r, PATHS);
    const op = pick(r, [
      "equal",
      "notEqual",
      "in",
      "notIn",
      "contains",
      "doesNotContain",
      ...NUMERIC,
    ] as const);
    if (op === "in" || op === "notIn") {
      return {
        fact,
        path,
        operator: op,
        value: Array.from({ length: 1 + Math.floor(r() * 3) }, () => anyScalar(r)),
      };
    }
    if ((NUMERIC as readonly string[]).includes(op)) return { fact, path, operator: op, value: pick(r, NUM) };
    return { fact, path, operator: op, value: pick(r, [...CATS, ...SKUS, 1, 2, 0]) };
  }
  if (isArray) {
    return {
      fact,
      operator: pick(r, ["contains", "doesNotContain"] as const),
      value: pick(r, [...CATS, ...SKUS]),
    };
  }
  const ops =
    kind === "number"
      ? (["equal", "notEqual", "in", "notIn", ...NUMERIC] as const)
      : (["equal", "notEqual", "in", "notIn"] as const);
  const op = pick(r, ops);
  if (op === "in" || op === "notIn") {
    return {
      fact,
      operator: op,
      value: Array.from({ length: 1 + Math.floor(r() * 10) }, () => scalarOf(r, kind, nullable)),
    };
  }
  if ((NUMERIC as readonly string[]).includes(op) && chance(r, 0.2)) {
    // Compare two facts.
    const ref = pick(r, [
      { fact: "member.orderCount" },
      { fact: "order.quantity" },
      { fact: "order.lines", path: "$[0].quantity" },
    ]);
    return { fact, operator: op, value: ref };
  }
  if ((NUMERIC as readonly string[]).includes(op)) return { fact, operator: op, value: pick(r, NUM) };
  return { fact, operator: op, value: scalarOf(r, kind, nullable) };
}

function tree(r: Rand, depth: number, leaf: (r: Rand) => Condition, allowEmptyAny: boolean): Condition {
  if (depth >= 4 || chance(r, 0.35 + depth * 0.15)) return leaf(r);
  const k = pick(r, ["all", "any", "not"] as const);
  if (k === "not") return { not: tree(r, depth + 1, leaf, allowEmptyAny) };
  const n = Math.floor(r() * 4) + (k === "any" && !allowEmptyAny ? 1 : 0);
  const subs = Array.from({ length: n }, () => tree(r, depth + 1, leaf, allowEmptyAny));
  return k === "all" ? { all: subs } : { any: subs };
}

function root(r: Rand, leaf: (r: Rand) => Condition, allowEmptyAny: boolean): Condition {
  const k = pick(r, ["all", "all", "any", "not"] as const);
  if (k === "not") return { not: tree(r, 1, leaf, allowEmptyAny) };
  const n = Math.floor(r() * 4) + (k === "any" && !allowEmptyAny ? 1 : 0);
  const subs = Array.from({ length: n }, () => tree(r, 1, leaf, allowEmptyAny));
  return k === "all" ? { all: subs } : { any: subs };
}

/** Values of every shape, to probe undefined facts, contains on non-arrays, numeric coercion. */
function weird(r: Rand): unknown {
  return pick(r, [
    () => undefined,
    () => null,
    () => Number.NaN,
    () => pick(r, STR),
    () => pick(r, NUM),
    () => chance(r, 0.5),
    () => [],
    () => [pick(r, CATS), pick(r, NUM)],
    () => ({ category: pick(r, CATS), 0: { sku: "a" } }),
    () => "abc",
    () => [3],
    () => "7",
  ])();
}

function line(r: Rand): unknown {
  if (chance(r, 0.1)) return weird(r);
  const l: Record<string, unknown> = {
    sku: pick(r, SKUS),
    category: pick(r, CATS),
    quantity: pick(r, [0, 1, 2, 3, 5]),
    unitPriceMinor: pick(r, [100, 999, 2500]),
  };
  if (chance(r, 0.1)) l.category = undefined;
  if (chance(r, 0.05)) l.quantity = "2";
  return l;
}

function randomFacts(r: Rand): Facts {
  const order: Record<string, unknown> = {};
  const member: Record<string, unknown> = {};
  for (const [name, kind, nullable] of FACT_POOL) {
    let v: unknown;
    const u = r();
    if (u < 0.1) continue; // missing
    if (u < 0.3) v = weird(r);
    else if (kind === "string-array")
      v = Array.from({ length: Math.floor(r() * 4) }, () => pick(r, [...CATS, ...SKUS]));
    else if (kind === "object-array") v = Array.from({ length: Math.floor(r() * 4) }, () => line(r));
    else v = scalarOf(r, kind, nullable);
    const [ns, key = "", sub] = name.split(".");
    if (ns === "order") order[key] = v;
    else if (ns === "member") member[key] = v;
    else if (ns === "counters" && sub !== undefined) {
      if (chance(r, 0.5)) continue;
      return { order, member, counters: { [key]: { [sub]: v } } };
    }
  }
  return { order, member, counters: {} };
}

async function jreFired(
  rules: Array<{ name: string; conditions: Condition }>,
  facts: Record<string, unknown>,
): Promise<string[]> {
  const engine = new Engine([], { allowUndefinedFacts: true });
  for (const rule of rules) {
    engine.addRule({
      name: rule.name,
      conditions: structuredClone(rule.conditions),
      event: { type: "x" },
    } as RuleProperties);
  }
  const { results } = await engine.run(facts);
  return results.map((x) => String(x.name)).sort();
}

function ruleOf(id: string, conditions: Condition): Rule {
  return {
    id,
    version: 1,
    name: id,
    status: "active",
    priority: 1 + (id.length % 3),
    trigger: "order.placed",
    conditions: conditions as Rule["conditions"],
    event: { type: "fixed-bonus", params: { points: 1 } },
  };
}

describe("differential: compiled predicates vs json-rules-engine", () => {
  it("validated rule sets through compile + index + evaluate", async () => {
    const r = prng(20250615);
    let comparisons = 0;
    let firedTotal = 0;
    for (let set = 0; set < 300; set++) {
      const rules = Array.from({ length: 4 + Math.floor(r() * 12) }, (_, i) =>
        ruleOf(`r${set}-${i}`, root(r, validLeaf, false)),
      );
      const v = validateRuleSet({ id: "diff", version: 1, rules });
      if (!v.ok) throw new Error(JSON.stringify(v.errors.slice(0, 3)));
      const compiled = compileRuleSet(v.ruleSet, PROGRAMME);
      const engine = new Engine([], { allowUndefinedFacts: true });
      for (const rule of v.ruleSet.rules)
        engine.addRule(toJsonRulesEngineRule(rule) as unknown as RuleProperties);
      const names = new Set<string>();
      for (const rule of v.ruleSet.rules) factNamesOf(rule.conditions, names);
      for (let k = 0; k < 12; k++) {
        const facts = randomFacts(r);
        const ours = evaluate(compiled, "order.placed", facts, NOW)
          .matched.map((m) => m.ruleId)
          .sort();
        const { results } = await engine.run(flattenFacts(facts, names));
        const theirs = results.map((x) => String(x.name)).sort();
        if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
          throw new Error(
            `mismatch in set ${set}: ours ${JSON.stringify(ours)} theirs ${JSON.stringify(theirs)}\nfacts ${JSON.stringify(facts)}\nrules ${JSON.stringify(rules.map((x) => x.conditions))}`,
          );
        }
        comparisons++;
        firedTotal += ours.length;
      }
    }
    expect(comparisons).toBe(3600);
    // The generator must produce a healthy mix of firing and non-firing rules.
    expect(firedTotal).toBeGreaterThan(3600);
  }, 120_000);

  it("raw conditions with loosely typed values (operator semantics only)", async () => {
    const r = prng(7);
    const looseLeaf = (rr: Rand): Condition => {
      const [fact] = pick(rr, FACT_POOL);
      const op = pick(rr, [
        "equal",
        "notEqual",
        "in",
        "notIn",
        "contains",
        "doesNotContain",
        ...NUMERIC,
      ] as const);
      const leaf: Record<string, unknown> = { fact, operator: op };
      if (chance(rr, 0.25)) leaf.path = pick(rr, PATHS);
      if (op === "in" || op === "notIn") {
        leaf.value = Array.from({ length: Math.floor(rr() * 12) }, () => anyScalar(rr));
      } else if (chance(rr, 0.15)) {
        leaf.value = { fact: pick(rr, FACT_POOL)[0], ...(chance(rr, 0.3) ? { path: pick(rr, PATHS) } : {}) };
      } else {
        leaf.value = pick(rr, [anyScalar(rr), "5", "abc", 3]);
      }
      return leaf as unknown as Condition;
    };
    let n = 0;
    for (let set = 0; set < 200; set++) {
      const rules = Array.from({ length: 10 }, (_, i) => ({
        name: `c${i}`,
        conditions: root(r, looseLeaf, true),
      }));
      const preds = rules.map((x) => compileCondition(x.conditions));
      const names = new Set<string>();
      for (const x of rules) factNamesOf(x.conditions, names);
      for (let k = 0; k < 10; k++) {
        const facts = randomFacts(r);
        const ours = rules
          .filter((_, i) => preds[i]?.(facts))
          .map((x) => x.name)
          .sort();
        const theirs = await jreFired(rules, flattenFacts(facts, names));
        if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
          throw new Error(
            `mismatch: ours ${ours} theirs ${theirs}\nfacts ${JSON.stringify(facts)}\n${JSON.stringify(rules)}`,
          );
        }
        n++;
      }
    }
    expect(n).toBe(2000);
  }, 120_000);
});

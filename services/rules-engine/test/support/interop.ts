import { factGetter } from "../../src/rules/path.ts";
import type { Condition, Facts, Rule } from "../../src/rules/types.ts";
import { parseTimestamp } from "../../src/rules/validate.ts";

// The bridge to json-rules-engine, used by the differential test and the benchmark. Our
// facts are nested objects resolved by dotted name; json-rules-engine sees each dotted name
// as one flat fact id.

export interface JsonRulesEngineRule {
  name: string;
  priority: number;
  conditions: Condition;
  event: { type: string; params: { ruleId: string } };
}

/** Fact id under which `withEligibility` rules expect the event time (epoch ms). */
export const EVENT_TIME_FACT = "event.timeMs";

/**
 * The rule's conditions as a json-rules-engine rule. With `withEligibility`, the validity
 * window and targeting become extra conditions (on EVENT_TIME_FACT, member.tier and
 * member.segment), so that json-rules-engine fires exactly what `evaluate` reports as matched.
 */
export function toJsonRulesEngineRule(
  rule: Rule,
  options: { withEligibility?: boolean } = {},
): JsonRulesEngineRule {
  // A copy: json-rules-engine may normalise condition objects in place.
  let conditions: Condition = structuredClone(rule.conditions);
  if (options.withEligibility === true) {
    const extra: Condition[] = [];
    const from = rule.validity?.from === undefined ? null : parseTimestamp(rule.validity.from);
    const until = rule.validity?.until === undefined ? null : parseTimestamp(rule.validity.until);
    if (from !== null) extra.push({ fact: EVENT_TIME_FACT, operator: "greaterThanInclusive", value: from });
    if (until !== null) extra.push({ fact: EVENT_TIME_FACT, operator: "lessThan", value: until });
    if (rule.targeting?.tiers)
      extra.push({ fact: "member.tier", operator: "in", value: [...rule.targeting.tiers] });
    if (rule.targeting?.segments) {
      extra.push({ fact: "member.segment", operator: "in", value: [...rule.targeting.segments] });
    }
    if (extra.length > 0) conditions = { all: [...extra, conditions] };
  }
  return {
    name: rule.id,
    priority: rule.priority,
    conditions,
    event: { type: rule.event.type, params: { ruleId: rule.id } },
  };
}

/** Every fact name a condition tree reads, including `value: {fact}` references. */
export function factNamesOf(c: Condition, out: Set<string> = new Set()): Set<string> {
  if (Object.hasOwn(c, "all")) for (const s of (c as { all: Condition[] }).all) factNamesOf(s, out);
  else if (Object.hasOwn(c, "any")) for (const s of (c as { any: Condition[] }).any) factNamesOf(s, out);
  else if (Object.hasOwn(c, "not")) factNamesOf((c as { not: Condition }).not, out);
  else {
    const leaf = c as { fact: string; value: unknown };
    out.add(leaf.fact);
    const v = leaf.value;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, "fact")) {
      out.add(String((v as { fact: unknown }).fact));
    }
  }
  return out;
}

/** Flat {"order.amountMinor": 1234, ...} view for json-rules-engine; absent facts are omitted. */
export function flattenFacts(facts: Facts, names: Iterable<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) {
    const v = factGetter(n)(facts);
    if (v !== undefined) out[n] = v;
  }
  return out;
}

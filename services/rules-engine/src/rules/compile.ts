import { parseRational } from "./arith.ts";
import { type Getter, type ParsedPath, factGetter, getterWithPath, parsePath } from "./path.ts";
import type {
  Condition,
  Facts,
  LeafCondition,
  Operator,
  ProgrammeConfig,
  Rational,
  Recipient,
  Rounding,
  Rule,
  RuleSet,
  Scalar,
  Trigger,
} from "./types.ts";
import { parseTimestamp } from "./validate.ts";

// Compilation of a validated rule set into closures. No eval/Function: every condition
// becomes a small closure over pre-resolved getters, and rules are indexed per trigger by a
// discriminating condition so that most rules are never looked at for a given event.

export type Predicate = (facts: Facts) => boolean;

export type CompiledAction =
  | { type: "points-per-unit"; rate: Rational; rounding: Rounding }
  | { type: "fixed-bonus"; points: number; recipient: Recipient }
  | { type: "multiplier"; factor: Rational; rounding: Rounding }
  | { type: "campaign"; campaignId: string; reward: Readonly<Record<string, unknown>> };

export interface CompiledRule {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly priority: number;
  /** Position in evaluation order: priority descending, then id ascending. */
  readonly ordinal: number;
  readonly trigger: Trigger;
  readonly exclusiveGroup: string | null;
  readonly fromMs: number;
  readonly untilMs: number;
  readonly tiers: ReadonlySet<string> | null;
  readonly segments: ReadonlySet<string> | null;
  readonly predicate: Predicate;
  readonly action: CompiledAction;
  readonly budgetPoints: number | null;
  readonly capPerDay: number | null;
  readonly capPerCampaign: number | null;
  /** How the index reaches this rule (for diagnostics and tests). */
  readonly indexedBy: string;
}

interface ValueIndex {
  readonly fact: string;
  readonly get: Getter;
  readonly byValue: Map<unknown, CompiledRule[]>;
}

export interface TriggerIndex {
  /** Rules without a usable discriminator; checked on every event of the trigger. */
  readonly unindexed: readonly CompiledRule[];
  /** `fact equal v` / `fact in [..]` / targeting tiers: looked up by the fact's value. */
  readonly eq: readonly ValueIndex[];
  /** `arrayFact contains v`: looked up by each element of the fact's array. */
  readonly contains: readonly ValueIndex[];
}

export interface CompiledRuleSet {
  readonly id: string;
  readonly version: number;
  readonly programme: ProgrammeConfig;
  /** Active rules only, in evaluation order. */
  readonly rules: readonly CompiledRule[];
  readonly byTrigger: ReadonlyMap<Trigger, TriggerIndex>;
}

// ---------------------------------------------------------------------------------------
// Conditions. Operators mirror json-rules-engine 7.3.1 exactly, including its treatment of
// undefined facts (no error with allowUndefinedFacts: undefined simply compares), of
// contains/doesNotContain on non-arrays (false) and of numeric operators, which first
// require Number.parseFloat(fact) to be a number and then compare with JS `<` coercion.

function numberish(a: unknown): boolean {
  if (typeof a === "number") return !Number.isNaN(a);
  return Number.parseFloat(a as string).toString() !== "NaN";
}

type Binary = (a: unknown, b: unknown) => boolean;

const BINARY: Readonly<Record<Operator, Binary>> = {
  equal: (a, b) => a === b,
  notEqual: (a, b) => a !== b,
  in: (a, b) => (b as unknown[]).indexOf(a) > -1,
  notIn: (a, b) => (b as unknown[]).indexOf(a) === -1,
  contains: (a, b) => Array.isArray(a) && a.indexOf(b) > -1,
  doesNotContain: (a, b) => Array.isArray(a) && a.indexOf(b) === -1,
  lessThan: (a, b) => numberish(a) && (a as number) < (b as number),
  lessThanInclusive: (a, b) => numberish(a) && (a as number) <= (b as number),
  greaterThan: (a, b) => numberish(a) && (a as number) > (b as number),
  greaterThanInclusive: (a, b) => numberish(a) && (a as number) >= (b as number),
};

function parsedPathOrThrow(path: string | undefined): ParsedPath | null {
  if (path === undefined) return null;
  const p = parsePath(path);
  if (typeof p === "string") throw new Error(`invalid path "${path}": ${p}`);
  return p;
}

function isFactRef(v: unknown): v is { fact: string; path?: string } {
  // Same test as json-rules-engine's almanac.getValue.
  return v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, "fact");
}

function compileLeaf(c: LeafCondition): Predicate {
  const get = getterWithPath(c.fact, parsedPathOrThrow(c.path));
  const value = c.value;
  const op = c.operator;
  if (isFactRef(value)) {
    const getRight = getterWithPath(value.fact, parsedPathOrThrow(value.path));
    const fn = BINARY[op];
    return (f) => fn(get(f), getRight(f));
  }
  // Specialised closures for the hot operators; the generic table covers the rest.
  switch (op) {
    case "equal":
      return (f) => get(f) === value;
    case "notEqual":
      return (f) => get(f) !== value;
    case "in":
    case "notIn": {
      const list = value as Scalar[];
      // indexOf is strict equality; a Set (SameValueZero) agrees because JSON lists hold no NaN.
      if (list.length > 8) {
        const set = new Set<unknown>(list);
        return op === "in" ? (f) => set.has(get(f)) : (f) => !set.has(get(f));
      }
      return op === "in"
        ? (f) => list.indexOf(get(f) as Scalar) > -1
        : (f) => list.indexOf(get(f) as Scalar) === -1;
    }
    case "contains":
      return (f) => {
        const a = get(f);
        return Array.isArray(a) && a.indexOf(value) > -1;
      };
    case "greaterThanInclusive":
      return (f) => {
        const a = get(f);
        return numberish(a) && (a as number) >= (value as number);
      };
    case "lessThan":
      return (f) => {
        const a = get(f);
        return numberish(a) && (a as number) < (value as number);
      };
    default: {
      const fn = BINARY[op];
      return (f) => fn(get(f), value);
    }
  }
}

/** Compiles a (structurally valid) condition tree into a predicate. */
export function compileCondition(c: Condition): Predicate {
  if (Object.hasOwn(c, "all")) {
    const subs = (c as { all: Condition[] }).all.map(compileCondition);
    if (subs.length === 0) return () => true;
    if (subs.length === 1) return subs[0] as Predicate;
    if (subs.length === 2) {
      const [a, b] = subs as [Predicate, Predicate];
      return (f) => a(f) && b(f);
    }
    return (f) => {
      for (const s of subs) if (!s(f)) return false;
      return true;
    };
  }
  if (Object.hasOwn(c, "any")) {
    const subs = (c as { any: Condition[] }).any.map(compileCondition);
    // json-rules-engine: an empty "any" is true (the validator rejects it anyway).
    if (subs.length === 0) return () => true;
    if (subs.length === 1) return subs[0] as Predicate;
    return (f) => {
      for (const s of subs) if (s(f)) return true;
      return false;
    };
  }
  if (Object.hasOwn(c, "not")) {
    const sub = compileCondition((c as { not: Condition }).not);
    return (f) => !sub(f);
  }
  return compileLeaf(c as LeafCondition);
}

// ---------------------------------------------------------------------------------------
// Index discriminators: a leaf directly under the root "all" that every matching event must
// satisfy and whose fact value can be looked up in a Map.

type Discriminator = { kind: "eq" | "contains"; fact: string; values: readonly unknown[]; label: string };

function findDiscriminator(rule: Rule): Discriminator | null {
  const root = rule.conditions;
  const leaves: LeafCondition[] = [];
  if (Object.hasOwn(root, "all")) {
    for (const c of (root as { all: Condition[] }).all) {
      if (Object.hasOwn(c, "fact")) leaves.push(c as LeafCondition);
    }
  }
  const usable = leaves.filter((l) => l.path === undefined && !isFactRef(l.value));
  const eq = usable.find((l) => l.operator === "equal");
  if (eq !== undefined) return { kind: "eq", fact: eq.fact, values: [eq.value], label: `${eq.fact}=` };
  const inn = usable.find((l) => l.operator === "in");
  if (inn !== undefined)
    return { kind: "eq", fact: inn.fact, values: inn.value as Scalar[], label: `${inn.fact} in` };
  const con = usable.find((l) => l.operator === "contains");
  if (con !== undefined) {
    return { kind: "contains", fact: con.fact, values: [con.value], label: `${con.fact} contains` };
  }
  const tiers = rule.targeting?.tiers;
  if (tiers !== undefined)
    return { kind: "eq", fact: "member.tier", values: tiers, label: "targeting.tiers" };
  return null;
}

function toAction(rule: Rule): CompiledAction {
  const ev = rule.event;
  switch (ev.type) {
    case "points-per-unit": {
      const rate = parseRational(ev.params.rate);
      if (rate === null) throw new Error(`rule ${rule.id}: invalid rate`);
      return { type: "points-per-unit", rate, rounding: ev.params.rounding };
    }
    case "multiplier": {
      const factor = parseRational(ev.params.factor);
      if (factor === null) throw new Error(`rule ${rule.id}: invalid factor`);
      return { type: "multiplier", factor, rounding: ev.params.rounding };
    }
    case "fixed-bonus":
      return { type: "fixed-bonus", points: ev.params.points, recipient: ev.params.recipient ?? "member" };
    case "campaign":
      return { type: "campaign", campaignId: ev.params.campaignId, reward: Object.freeze(ev.params.reward) };
  }
}

function timeOrDefault(ts: string | undefined, dflt: number): number {
  if (ts === undefined) return dflt;
  const t = parseTimestamp(ts);
  if (t === null) throw new Error(`invalid timestamp ${ts}`);
  return t;
}

export function compareRules(a: Rule, b: Rule): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Compiles a rule set that validateRuleSet accepted. Only active rules are compiled:
 * draft/paused/retired rules can never fire, so they are never looked at.
 */
export function compileRuleSet(ruleSet: RuleSet, programme: ProgrammeConfig): CompiledRuleSet {
  const active = ruleSet.rules.filter((r) => r.status === "active").sort(compareRules);
  const builders = new Map<
    Trigger,
    { unindexed: CompiledRule[]; eq: Map<string, ValueIndex>; contains: Map<string, ValueIndex> }
  >();
  const compiled: CompiledRule[] = [];
  active.forEach((rule, ordinal) => {
    const disc = findDiscriminator(rule);
    const cr: CompiledRule = {
      id: rule.id,
      version: rule.version,
      name: rule.name,
      priority: rule.priority,
      ordinal,
      trigger: rule.trigger,
      exclusiveGroup: rule.exclusiveGroup ?? null,
      fromMs: timeOrDefault(rule.validity?.from, Number.NEGATIVE_INFINITY),
      untilMs: timeOrDefault(rule.validity?.until, Number.POSITIVE_INFINITY),
      tiers: rule.targeting?.tiers ? new Set(rule.targeting.tiers) : null,
      segments: rule.targeting?.segments ? new Set(rule.targeting.segments) : null,
      predicate: compileCondition(rule.conditions),
      action: toAction(rule),
      budgetPoints: rule.budget?.totalPoints ?? null,
      capPerDay: rule.caps?.perMemberPerDay ?? null,
      capPerCampaign: rule.caps?.perMemberPerCampaign ?? null,
      indexedBy: disc === null ? "none" : disc.label,
    };
    compiled.push(cr);
    let b = builders.get(rule.trigger);
    if (b === undefined) {
      b = { unindexed: [], eq: new Map(), contains: new Map() };
      builders.set(rule.trigger, b);
    }
    if (disc === null) {
      b.unindexed.push(cr);
      return;
    }
    const table = disc.kind === "eq" ? b.eq : b.contains;
    let idx = table.get(disc.fact);
    if (idx === undefined) {
      idx = { fact: disc.fact, get: factGetter(disc.fact), byValue: new Map() };
      table.set(disc.fact, idx);
    }
    for (const v of new Set(disc.values)) {
      const list = idx.byValue.get(v) ?? [];
      list.push(cr);
      idx.byValue.set(v, list);
    }
  });
  const byTrigger = new Map<Trigger, TriggerIndex>();
  for (const [t, b] of builders) {
    byTrigger.set(t, { unindexed: b.unindexed, eq: [...b.eq.values()], contains: [...b.contains.values()] });
  }
  return { id: ruleSet.id, version: ruleSet.version, programme, rules: compiled, byTrigger };
}

const EMPTY: readonly CompiledRule[] = [];

/**
 * The rules that may match an event of `trigger`, in evaluation order. A superset of the
 * matching rules: callers still run each predicate.
 */
export function candidates(
  compiled: CompiledRuleSet,
  trigger: Trigger,
  facts: Facts,
): readonly CompiledRule[] {
  const idx = compiled.byTrigger.get(trigger);
  if (idx === undefined) return EMPTY;
  let parts: (readonly CompiledRule[])[] | null = null;
  let single: readonly CompiledRule[] = idx.unindexed;
  const add = (list: readonly CompiledRule[] | undefined): void => {
    if (list === undefined || list.length === 0) return;
    if (single.length === 0) {
      single = list;
      return;
    }
    if (parts === null) parts = [single];
    parts.push(list);
  };
  for (const e of idx.eq) add(e.byValue.get(e.get(facts)));
  for (const ci of idx.contains) {
    const arr = ci.get(facts);
    if (!Array.isArray(arr)) continue;
    if (arr.length === 1) add(ci.byValue.get(arr[0]));
    else for (const el of new Set(arr)) add(ci.byValue.get(el));
  }
  if (parts === null) return single;
  // Each rule sits under exactly one discriminator value and elements were de-duplicated,
  // so the union has no duplicates; restore evaluation order.
  return (parts as (readonly CompiledRule[])[]).flat().sort((a, b) => a.ordinal - b.ordinal);
}

/** Caches compiled sets per rule-set id and version: compile once per version. */
export class CompiledRuleSetCache {
  readonly #byKey = new Map<string, CompiledRuleSet>();
  constructor(private readonly programme: ProgrammeConfig) {}
  get(ruleSet: RuleSet): CompiledRuleSet {
    const key = `${ruleSet.id}@${ruleSet.version}`;
    let c = this.#byKey.get(key);
    if (c === undefined) {
      c = compileRuleSet(ruleSet, this.programme);
      this.#byKey.set(key, c);
    }
    return c;
  }
}

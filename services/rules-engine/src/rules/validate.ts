import { type AmountLimits, amountLimitsOf } from "./amounts.ts";
import { MAX_RATIONAL_PART, mulDivRoundBig, parseRational } from "./arith.ts";
import { type FactSpec, PROTO_KEYS, lookupFact } from "./catalogue.ts";
import { parsePath } from "./path.ts";
import {
  OPERATORS,
  type Operator,
  type ProgrammeConfig,
  ROUNDINGS,
  type Rounding,
  type RuleSet,
  STATUSES,
  TRIGGERS,
  type Trigger,
} from "./types.ts";

// Validation of an untrusted rule-set JSON value. Every problem is reported (not just the
// first) with the id of the rule it belongs to and a JSON path to the offending node.

export interface ValidationError {
  ruleId: string | null;
  path: string;
  problem: string;
}

export type ValidationResult = { ok: true; ruleSet: RuleSet } | { ok: false; errors: ValidationError[] };

export const LIMITS = Object.freeze({
  maxRules: 2000,
  /** Depth of a condition tree; the root all/any/not is depth 1. */
  maxConditionDepth: 8,
  maxConditionsPerRule: 200,
  maxInValues: 1000,
  /** Any JSON value (including campaign reward payloads). */
  maxJsonDepth: 32,
  maxRewardBytes: 4096,
  maxPoints: 1_000_000_000,
  maxPriority: 10_000,
  /**
   * Rule and rule-set versions: Avro `int` in loyalty.rules.v1, loyalty.points.v1 and
   * loyalty.campaigns.v1, and `int` columns in the ledger; one range everywhere.
   */
  maxVersion: 2_147_483_647,
});

const ID_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-](\d{2}):(\d{2}))$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
function child(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return IDENT_RE.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return (
    v === null ||
    typeof v === "string" ||
    typeof v === "boolean" ||
    (typeof v === "number" && Number.isFinite(v))
  );
}

/** Parses a strict ISO-8601 timestamp with an explicit offset; rejects impossible dates like Feb 30. */
export function parseTimestamp(text: string): number | null {
  const m = ISO_RE.exec(text);
  if (m === null) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "0"].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59) return null;
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > daysInMonth) return null;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

class Collector {
  readonly errors: ValidationError[] = [];
  add(ruleId: string | null, path: string, problem: string): void {
    this.errors.push({ ruleId, path, problem });
  }
}

/** Keys named __proto__/constructor/prototype anywhere in the input, plus a depth guard. */
function scanJson(
  value: unknown,
  path: string,
  depth: number,
  ruleIdOf: (path: string) => string | null,
  c: Collector,
): void {
  if (depth > LIMITS.maxJsonDepth) {
    c.add(ruleIdOf(path), path, `JSON nested deeper than ${LIMITS.maxJsonDepth} levels`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => scanJson(v, child(path, i), depth + 1, ruleIdOf, c));
  } else if (value !== null && typeof value === "object") {
    // Object.keys sees an own "__proto__" key created by JSON.parse.
    for (const key of Object.keys(value)) {
      const p = child(path, key);
      if (PROTO_KEYS.has(key)) {
        c.add(ruleIdOf(p), p, `forbidden key "${key}"`);
        continue;
      }
      scanJson((value as Json)[key], p, depth + 1, ruleIdOf, c);
    }
  }
}

function checkKeys(
  obj: Json,
  allowed: readonly string[],
  path: string,
  ruleId: string | null,
  c: Collector,
): void {
  for (const key of Object.keys(obj)) {
    if (PROTO_KEYS.has(key)) continue; // reported by scanJson
    if (!allowed.includes(key)) c.add(ruleId, child(path, key), `unknown key "${key}"`);
  }
}

function requireInt(
  obj: Json,
  key: string,
  min: number,
  max: number,
  path: string,
  ruleId: string | null,
  c: Collector,
  required = true,
): number | undefined {
  if (!Object.hasOwn(obj, key)) {
    if (required) c.add(ruleId, child(path, key), `missing required "${key}"`);
    return undefined;
  }
  const v = obj[key];
  if (typeof v !== "number" || !Number.isInteger(v)) {
    c.add(ruleId, child(path, key), `"${key}" must be an integer, got ${JSON.stringify(v) ?? describe(v)}`);
    return undefined;
  }
  if (v < min || v > max) {
    c.add(ruleId, child(path, key), `"${key}" must be between ${min} and ${max}, got ${v}`);
    return undefined;
  }
  return v;
}

function requireId(
  obj: Json,
  key: string,
  path: string,
  ruleId: string | null,
  c: Collector,
  required = true,
): string | undefined {
  if (!Object.hasOwn(obj, key)) {
    if (required) c.add(ruleId, child(path, key), `missing required "${key}"`);
    return undefined;
  }
  const v = obj[key];
  if (typeof v !== "string" || !ID_RE.test(v) || PROTO_KEYS.has(v)) {
    c.add(
      ruleId,
      child(path, key),
      `"${key}" must match ${ID_RE.source}, got ${JSON.stringify(v) ?? describe(v)}`,
    );
    return undefined;
  }
  return v;
}

function requireEnum<T extends string>(
  obj: Json,
  key: string,
  values: readonly T[],
  path: string,
  ruleId: string | null,
  c: Collector,
  required = true,
): T | undefined {
  if (!Object.hasOwn(obj, key)) {
    if (required) c.add(ruleId, child(path, key), `missing required "${key}"`);
    return undefined;
  }
  const v = obj[key];
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
    c.add(
      ruleId,
      child(path, key),
      `"${key}" must be one of ${values.join(", ")}, got ${JSON.stringify(v) ?? describe(v)}`,
    );
    return undefined;
  }
  return v as T;
}

interface RuleCtx {
  ruleId: string | null;
  trigger: Trigger | undefined;
  c: Collector;
  count: number;
}

const NUMERIC_OPS: ReadonlySet<Operator> = new Set([
  "lessThan",
  "lessThanInclusive",
  "greaterThan",
  "greaterThanInclusive",
]);

function checkFactName(name: unknown, path: string, ctx: RuleCtx): FactSpec | undefined {
  if (typeof name !== "string") {
    ctx.c.add(ctx.ruleId, path, `fact must be a string, got ${describe(name)}`);
    return undefined;
  }
  if (name.split(".").some((s) => PROTO_KEYS.has(s))) {
    ctx.c.add(ctx.ruleId, path, `fact "${name}" contains a forbidden segment`);
    return undefined;
  }
  const spec = lookupFact(name);
  if (spec === undefined) {
    ctx.c.add(ctx.ruleId, path, `unknown fact "${name}"`);
    return undefined;
  }
  if (ctx.trigger !== undefined && !spec.triggers.includes(ctx.trigger)) {
    ctx.c.add(ctx.ruleId, path, `fact "${name}" is not available for trigger "${ctx.trigger}"`);
    return undefined;
  }
  return spec;
}

function scalarMatchesFact(v: unknown, spec: FactSpec): boolean {
  if (v === null) return spec.nullable === true;
  return (
    (spec.type === "number" && typeof v === "number") ||
    (spec.type === "string" && typeof v === "string") ||
    (spec.type === "boolean" && typeof v === "boolean")
  );
}

function checkLeaf(node: Json, path: string, ctx: RuleCtx): void {
  const { c, ruleId } = ctx;
  checkKeys(node, ["fact", "operator", "value", "path"], path, ruleId, c);
  for (const key of ["fact", "operator", "value"]) {
    if (!Object.hasOwn(node, key)) c.add(ruleId, child(path, key), `missing required "${key}"`);
  }
  const spec = Object.hasOwn(node, "fact") ? checkFactName(node.fact, child(path, "fact"), ctx) : undefined;
  let op: Operator | undefined;
  if (Object.hasOwn(node, "operator")) {
    const o = node.operator;
    if (typeof o !== "string" || !(OPERATORS as readonly string[]).includes(o)) {
      c.add(ruleId, child(path, "operator"), `unknown operator ${JSON.stringify(o) ?? describe(o)}`);
    } else {
      op = o as Operator;
    }
  }
  let hasPath = false;
  if (Object.hasOwn(node, "path")) {
    hasPath = true;
    const p = node.path;
    if (typeof p !== "string") {
      c.add(ruleId, child(path, "path"), `path must be a string, got ${describe(p)}`);
    } else {
      const parsed = parsePath(p);
      if (typeof parsed === "string") c.add(ruleId, child(path, "path"), parsed);
      if (spec !== undefined && spec.type !== "object-array" && spec.type !== "string-array") {
        c.add(
          ruleId,
          child(path, "path"),
          `path only applies to array facts, "${String(node.fact)}" is ${spec.type}`,
        );
      }
    }
  }
  if (op === undefined || !Object.hasOwn(node, "value")) return;
  const value = node.value;
  const vpath = child(path, "value");
  const fact = String(node.fact);

  if (isObject(value)) {
    // A fact reference: {fact, path?}. Only for operators whose right-hand side is a scalar.
    checkKeys(value, ["fact", "path"], vpath, ruleId, c);
    if (!Object.hasOwn(value, "fact")) c.add(ruleId, child(vpath, "fact"), `missing required "fact"`);
    else checkFactName(value.fact, child(vpath, "fact"), ctx);
    if (Object.hasOwn(value, "path")) {
      const parsed = typeof value.path === "string" ? parsePath(value.path) : "path must be a string";
      if (typeof parsed === "string") c.add(ruleId, child(vpath, "path"), parsed);
    }
    if (op === "in" || op === "notIn") {
      c.add(ruleId, vpath, `operator "${op}" needs a literal array value, not a fact reference`);
    }
    return;
  }

  // Without a path we know the left-hand type from the catalogue, so impossible comparisons
  // (which json-rules-engine would silently evaluate to false) are rejected here.
  const lhs = hasPath ? undefined : spec;
  switch (op) {
    case "equal":
    case "notEqual":
      if (!isScalar(value)) {
        c.add(ruleId, vpath, `"${op}" needs a string, number, boolean or null value, got ${describe(value)}`);
      } else if (lhs !== undefined) {
        if (lhs.type === "string-array" || lhs.type === "object-array") {
          c.add(ruleId, vpath, `"${op}" on array fact "${fact}" never matches; use contains`);
        } else if (!scalarMatchesFact(value, lhs)) {
          c.add(
            ruleId,
            vpath,
            `value ${JSON.stringify(value)} does not match type ${lhs.type} of fact "${fact}"`,
          );
        }
      }
      return;
    case "in":
    case "notIn":
      if (!Array.isArray(value)) {
        c.add(ruleId, vpath, `"${op}" needs an array value, got ${describe(value)}`);
        return;
      }
      if (value.length > LIMITS.maxInValues) {
        c.add(ruleId, vpath, `"${op}" list longer than ${LIMITS.maxInValues}`);
      }
      value.forEach((v, i) => {
        if (!isScalar(v)) c.add(ruleId, child(vpath, i), `list element must be a scalar, got ${describe(v)}`);
        else if (
          lhs !== undefined &&
          lhs.type !== "string-array" &&
          lhs.type !== "object-array" &&
          !scalarMatchesFact(v, lhs)
        ) {
          c.add(
            ruleId,
            child(vpath, i),
            `value ${JSON.stringify(v)} does not match type ${lhs.type} of fact "${fact}"`,
          );
        }
      });
      if (lhs !== undefined && (lhs.type === "string-array" || lhs.type === "object-array")) {
        c.add(ruleId, vpath, `"${op}" on array fact "${fact}" never matches; use contains`);
      }
      return;
    case "contains":
    case "doesNotContain":
      if (!isScalar(value)) {
        c.add(ruleId, vpath, `"${op}" needs a scalar value, got ${describe(value)}`);
      } else if (lhs !== undefined) {
        if (lhs.type === "object-array") {
          c.add(
            ruleId,
            vpath,
            `"${op}" on "${fact}" compares whole objects; add a path such as $[*].category`,
          );
        } else if (lhs.type !== "string-array") {
          c.add(ruleId, vpath, `"${op}" needs an array fact, "${fact}" is ${lhs.type}`);
        } else if (typeof value !== "string") {
          c.add(ruleId, vpath, `"${op}" on "${fact}" needs a string value`);
        }
      }
      return;
    default:
      if (NUMERIC_OPS.has(op)) {
        if (typeof value !== "number" || !Number.isFinite(value)) {
          c.add(
            ruleId,
            vpath,
            `"${op}" needs a finite number value, got ${JSON.stringify(value) ?? describe(value)}`,
          );
        } else if (lhs !== undefined && lhs.type !== "number") {
          c.add(ruleId, vpath, `"${op}" needs a number fact, "${fact}" is ${lhs.type}`);
        }
      }
  }
}

function checkCondition(node: unknown, path: string, depth: number, ctx: RuleCtx, root: boolean): void {
  const { c, ruleId } = ctx;
  ctx.count++;
  if (ctx.count === LIMITS.maxConditionsPerRule + 1) {
    c.add(ruleId, path, `more than ${LIMITS.maxConditionsPerRule} conditions in one rule`);
  }
  if (!isObject(node)) {
    c.add(ruleId, path, `condition must be an object, got ${describe(node)}`);
    return;
  }
  const bools = ["all", "any", "not"].filter((k) => Object.hasOwn(node, k));
  if (bools.length === 0) {
    if (root) {
      c.add(ruleId, path, `conditions root must be a single "all", "any" or "not"`);
      return;
    }
    checkLeaf(node, path, ctx);
    return;
  }
  if (bools.length > 1) {
    c.add(ruleId, path, `condition has several boolean operators (${bools.join(", ")}); use exactly one`);
    return;
  }
  const op = bools[0] as "all" | "any" | "not";
  checkKeys(node, [op], path, ruleId, c);
  const p = child(path, op);
  if (depth > LIMITS.maxConditionDepth) {
    c.add(ruleId, p, `conditions nested deeper than ${LIMITS.maxConditionDepth} levels`);
    return;
  }
  const sub = node[op];
  if (op === "not") {
    if (!isObject(sub)) c.add(ruleId, p, `"not" takes one condition object, got ${describe(sub)}`);
    else checkCondition(sub, p, depth + 1, ctx, false);
    return;
  }
  if (!Array.isArray(sub)) {
    c.add(ruleId, p, `"${op}" must be an array, got ${describe(sub)}`);
    return;
  }
  if (op === "any" && sub.length === 0) {
    // json-rules-engine treats an empty "any" as true, which nobody means.
    c.add(ruleId, p, `empty "any" matches everything; use "all": [] for an unconditional rule`);
  }
  sub.forEach((s, i) => checkCondition(s, child(p, i), depth + 1, ctx, false));
}

function checkRational(v: unknown, path: string, ruleId: string | null, c: Collector, name: string): boolean {
  const r = parseRational(v);
  if (r === null) {
    c.add(
      ruleId,
      path,
      `"${name}" must be a decimal string like "1.25" or {numerator, denominator} with integers 1..${MAX_RATIONAL_PART}`,
    );
    return false;
  }
  return true;
}

function jsonSize(v: unknown): number {
  try {
    return JSON.stringify(v)?.length ?? 0;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function checkEvent(ev: unknown, path: string, ctx: RuleCtx): string | undefined {
  const { c, ruleId } = ctx;
  if (!isObject(ev)) {
    c.add(ruleId, path, `event must be an object, got ${describe(ev)}`);
    return undefined;
  }
  checkKeys(ev, ["type", "params"], path, ruleId, c);
  const type = requireEnum(
    ev,
    "type",
    ["points-per-unit", "fixed-bonus", "multiplier", "campaign"],
    path,
    ruleId,
    c,
  );
  if (type === undefined) return undefined;
  const pp = child(path, "params");
  const params = ev.params;
  if (!isObject(params)) {
    c.add(ruleId, pp, `params must be an object, got ${describe(params)}`);
    return type;
  }
  const needOrder = (): void => {
    if (ctx.trigger !== undefined && ctx.trigger !== "order.placed") {
      c.add(
        ruleId,
        child(path, "type"),
        `"${type}" needs an order amount; trigger "${ctx.trigger}" has none`,
      );
    }
  };
  switch (type) {
    case "points-per-unit":
      checkKeys(params, ["rate", "rounding"], pp, ruleId, c);
      if (!Object.hasOwn(params, "rate")) c.add(ruleId, child(pp, "rate"), `missing required "rate"`);
      else if (
        checkRational(params.rate, child(pp, "rate"), ruleId, c, "rate") &&
        parseRational(params.rate)?.num === 0
      ) {
        c.add(ruleId, child(pp, "rate"), `"rate" must be greater than zero`);
      }
      requireEnum(params, "rounding", ROUNDINGS, pp, ruleId, c);
      needOrder();
      break;
    case "multiplier": {
      checkKeys(params, ["factor", "appliesTo", "rounding"], pp, ruleId, c);
      if (!Object.hasOwn(params, "factor")) c.add(ruleId, child(pp, "factor"), `missing required "factor"`);
      else if (checkRational(params.factor, child(pp, "factor"), ruleId, c, "factor")) {
        const f = parseRational(params.factor);
        if (f !== null && f.num <= f.den)
          c.add(ruleId, child(pp, "factor"), `"factor" must be greater than 1`);
      }
      requireEnum(params, "appliesTo", ["base"], pp, ruleId, c);
      requireEnum(params, "rounding", ROUNDINGS, pp, ruleId, c);
      needOrder();
      break;
    }
    case "fixed-bonus": {
      checkKeys(params, ["points", "recipient"], pp, ruleId, c);
      requireInt(params, "points", 1, LIMITS.maxPoints, pp, ruleId, c);
      const r = requireEnum(params, "recipient", ["member", "referrer"], pp, ruleId, c, false);
      if (r === "referrer" && ctx.trigger !== undefined && ctx.trigger !== "member.referred") {
        c.add(
          ruleId,
          child(pp, "recipient"),
          `recipient "referrer" only exists for trigger "member.referred"`,
        );
      }
      break;
    }
    case "campaign":
      checkKeys(params, ["campaignId", "reward"], pp, ruleId, c);
      requireId(params, "campaignId", pp, ruleId, c);
      if (!isObject(params.reward)) {
        c.add(ruleId, child(pp, "reward"), `"reward" must be an object, got ${describe(params.reward)}`);
      } else if (jsonSize(params.reward) > LIMITS.maxRewardBytes) {
        c.add(ruleId, child(pp, "reward"), `"reward" larger than ${LIMITS.maxRewardBytes} bytes`);
      }
      break;
  }
  return type;
}

interface RuleSummary {
  index: number;
  id: string | undefined;
  trigger: Trigger | undefined;
  action: string | undefined;
  group: string | undefined;
}

function checkStringList(obj: Json, key: string, path: string, ruleId: string | null, c: Collector): void {
  if (!Object.hasOwn(obj, key)) return;
  const v = obj[key];
  const p = child(path, key);
  if (!Array.isArray(v) || v.length === 0) {
    c.add(ruleId, p, `"${key}" must be a non-empty array of strings`);
    return;
  }
  const seen = new Set<string>();
  v.forEach((s, i) => {
    if (typeof s !== "string" || s.length === 0) c.add(ruleId, child(p, i), "must be a non-empty string");
    else if (seen.has(s)) c.add(ruleId, child(p, i), `duplicate "${s}"`);
    else seen.add(s);
  });
}

const RULE_KEYS = [
  "id",
  "version",
  "name",
  "description",
  "status",
  "validity",
  "priority",
  "exclusiveGroup",
  "budget",
  "caps",
  "targeting",
  "trigger",
  "conditions",
  "event",
];

function checkRule(rule: unknown, path: string, c: Collector): RuleSummary {
  if (!isObject(rule)) {
    c.add(null, path, `rule must be an object, got ${describe(rule)}`);
    return { index: -1, id: undefined, trigger: undefined, action: undefined, group: undefined };
  }
  const id = requireId(rule, "id", path, null, c);
  const ruleId = id ?? (typeof rule.id === "string" ? rule.id : null);
  checkKeys(rule, RULE_KEYS, path, ruleId, c);
  requireInt(rule, "version", 1, LIMITS.maxVersion, path, ruleId, c);
  if (!Object.hasOwn(rule, "name")) c.add(ruleId, child(path, "name"), `missing required "name"`);
  else if (typeof rule.name !== "string" || rule.name.length === 0 || rule.name.length > 200) {
    c.add(ruleId, child(path, "name"), `"name" must be a string of 1..200 characters`);
  }
  if (Object.hasOwn(rule, "description") && typeof rule.description !== "string") {
    c.add(ruleId, child(path, "description"), `"description" must be a string`);
  }
  requireEnum(rule, "status", STATUSES, path, ruleId, c);
  requireInt(rule, "priority", 1, LIMITS.maxPriority, path, ruleId, c);
  const trigger = requireEnum(rule, "trigger", TRIGGERS, path, ruleId, c);
  const group = requireId(rule, "exclusiveGroup", path, ruleId, c, false);

  if (Object.hasOwn(rule, "validity")) {
    const vp = child(path, "validity");
    const w = rule.validity;
    if (!isObject(w)) c.add(ruleId, vp, `validity must be an object, got ${describe(w)}`);
    else {
      checkKeys(w, ["from", "until"], vp, ruleId, c);
      const at = (k: "from" | "until"): number | null | undefined => {
        if (!Object.hasOwn(w, k)) return undefined;
        const t = typeof w[k] === "string" ? parseTimestamp(w[k] as string) : null;
        if (t === null) {
          c.add(
            ruleId,
            child(vp, k),
            `"${k}" must be an ISO-8601 timestamp with offset (e.g. 2025-01-01T00:00:00Z), got ${JSON.stringify(w[k])}`,
          );
        }
        return t;
      };
      const from = at("from");
      const until = at("until");
      if (typeof from === "number" && typeof until === "number" && from >= until) {
        c.add(ruleId, child(vp, "until"), "validity window is empty or inverted: until must be after from");
      }
    }
  }
  if (Object.hasOwn(rule, "budget")) {
    const bp = child(path, "budget");
    if (!isObject(rule.budget)) c.add(ruleId, bp, "budget must be an object");
    else {
      checkKeys(rule.budget, ["totalPoints"], bp, ruleId, c);
      requireInt(rule.budget, "totalPoints", 1, Number.MAX_SAFE_INTEGER, bp, ruleId, c);
    }
  }
  if (Object.hasOwn(rule, "caps")) {
    const cp = child(path, "caps");
    if (!isObject(rule.caps)) c.add(ruleId, cp, "caps must be an object");
    else {
      checkKeys(rule.caps, ["perMemberPerDay", "perMemberPerCampaign"], cp, ruleId, c);
      requireInt(rule.caps, "perMemberPerDay", 1, LIMITS.maxPoints, cp, ruleId, c, false);
      requireInt(rule.caps, "perMemberPerCampaign", 1, Number.MAX_SAFE_INTEGER, cp, ruleId, c, false);
    }
  }
  if (Object.hasOwn(rule, "targeting")) {
    const tp = child(path, "targeting");
    if (!isObject(rule.targeting)) c.add(ruleId, tp, "targeting must be an object");
    else {
      checkKeys(rule.targeting, ["tiers", "segments"], tp, ruleId, c);
      checkStringList(rule.targeting, "tiers", tp, ruleId, c);
      checkStringList(rule.targeting, "segments", tp, ruleId, c);
    }
  }
  const ctx: RuleCtx = { ruleId, trigger, c, count: 0 };
  if (!Object.hasOwn(rule, "conditions"))
    c.add(ruleId, child(path, "conditions"), `missing required "conditions"`);
  else checkCondition(rule.conditions, child(path, "conditions"), 1, ctx, true);
  let action: string | undefined;
  if (!Object.hasOwn(rule, "event")) c.add(ruleId, child(path, "event"), `missing required "event"`);
  else action = checkEvent(rule.event, child(path, "event"), ctx);
  if (action === "campaign") {
    for (const k of ["budget", "caps"]) {
      if (Object.hasOwn(rule, k))
        c.add(ruleId, child(path, k), `"${k}" limits points; a campaign action awards none`);
    }
  }
  return { index: -1, id, trigger, action, group };
}

function checkGroups(summaries: RuleSummary[], c: Collector): void {
  const groups = new Map<string, RuleSummary[]>();
  for (const s of summaries) {
    if (s.group === undefined) continue;
    const list = groups.get(s.group) ?? [];
    list.push(s);
    groups.set(s.group, list);
  }
  for (const [group, members] of groups) {
    const first = members[0];
    if (first === undefined) continue;
    for (const m of members.slice(1)) {
      if (m.trigger !== undefined && first.trigger !== undefined && m.trigger !== first.trigger) {
        c.add(
          m.id ?? null,
          `$.rules[${m.index}].exclusiveGroup`,
          `exclusive group "${group}" spans triggers "${first.trigger}" and "${m.trigger}"; one event can never see both`,
        );
      }
    }
    const hasBase = members.some((m) => m.action === "points-per-unit");
    for (const m of members) {
      if (hasBase && m.action === "multiplier") {
        c.add(
          m.id ?? null,
          `$.rules[${m.index}].exclusiveGroup`,
          `exclusive group "${group}" mixes points-per-unit and multiplier rules; a winning multiplier would suppress the base it multiplies`,
        );
      }
    }
  }
  const hasBaseRule = summaries.some((s) => s.action === "points-per-unit");
  if (!hasBaseRule) {
    for (const s of summaries) {
      if (s.action === "multiplier") {
        c.add(
          s.id ?? null,
          `$.rules[${s.index}].event.type`,
          "multiplier has no base: the rule set has no points-per-unit rule",
        );
      }
    }
  }
}

/** The smallest positive limit a rule puts on its own award (budget, caps), or null. */
function ruleLimit(rule: Json): number | null {
  let limit: number | null = null;
  const take = (v: unknown): void => {
    if (typeof v === "number" && Number.isSafeInteger(v) && v > 0)
      limit = limit === null ? v : Math.min(limit, v);
  };
  if (isObject(rule.budget)) take(rule.budget.totalPoints);
  if (isObject(rule.caps)) {
    take(rule.caps.perMemberPerDay);
    take(rule.caps.perMemberPerCampaign);
  }
  return limit;
}

function roundingOf(params: Json): Rounding {
  const r = params.rounding;
  return typeof r === "string" && (ROUNDINGS as readonly string[]).includes(r) ? (r as Rounding) : "ceil";
}

/**
 * The programme's amount limits: no rule may compute an award over maxPointsPerEntry (and so
 * over maxPointsPerMemberPerDay, which is at least as large). Rates and multipliers are priced
 * on an order of maxOrderAmountMinor; a multiplier on the largest sum of base rates that can
 * fire together (every ungrouped points-per-unit rule, the largest of each exclusive group).
 * What a rule's own budget or caps trim away cannot exceed anything.
 */
function checkAmounts(rules: unknown[], limits: AmountLimits, exp: number, c: Collector): void {
  const cap = BigInt(limits.maxPointsPerEntry);
  const amount = BigInt(limits.maxOrderAmountMinor);
  const scale = 10n ** BigInt(exp);
  const where = `on an order of ${limits.maxOrderAmountMinor} minor units (maxOrderAmountMinor)`;
  // The largest sum of base rates, as an exact fraction num/den.
  let sumNum = 0n;
  let sumDen = 1n;
  const groupMax = new Map<string, { num: bigint; den: bigint }>();
  const addRate = (num: bigint, den: bigint): void => {
    sumNum = sumNum * den + num * sumDen;
    sumDen *= den;
  };
  for (const r of rules) {
    if (!isObject(r) || !isObject(r.event) || r.event.type !== "points-per-unit") continue;
    if (!isObject(r.event.params)) continue;
    const rate = parseRational(r.event.params.rate);
    if (rate === null) continue;
    const num = BigInt(rate.num);
    const den = BigInt(rate.den);
    if (typeof r.exclusiveGroup === "string") {
      const m = groupMax.get(r.exclusiveGroup);
      if (m === undefined || num * m.den > m.num * den) groupMax.set(r.exclusiveGroup, { num, den });
    } else addRate(num, den);
  }
  for (const m of groupMax.values()) addRate(m.num, m.den);

  rules.forEach((r, i) => {
    if (!isObject(r) || !isObject(r.event) || !isObject(r.event.params)) return;
    const ruleId = typeof r.id === "string" ? r.id : null;
    const params = r.event.params;
    const pp = `$.rules[${i}].event.params`;
    const own = ruleLimit(r);
    const over = (max: bigint): boolean => max > cap && (own === null || BigInt(own) > cap);
    switch (r.event.type) {
      case "fixed-bonus": {
        const points = params.points;
        if (typeof points === "number" && Number.isSafeInteger(points) && over(BigInt(points)))
          c.add(
            ruleId,
            `${pp}.points`,
            `fixed bonus of ${points} points exceeds the programme's maxPointsPerEntry ${limits.maxPointsPerEntry}`,
          );
        return;
      }
      case "points-per-unit": {
        const rate = parseRational(params.rate);
        if (rate === null) return;
        const max = mulDivRoundBig(amount, BigInt(rate.num), BigInt(rate.den) * scale, roundingOf(params));
        if (over(max))
          c.add(
            ruleId,
            `${pp}.rate`,
            `rate ${JSON.stringify(params.rate)} can award ${max} points ${where}, over the programme's maxPointsPerEntry ${limits.maxPointsPerEntry}`,
          );
        return;
      }
      case "multiplier": {
        const f = parseRational(params.factor);
        if (f === null || f.num <= f.den || sumNum === 0n) return;
        const max = mulDivRoundBig(
          amount,
          sumNum * BigInt(f.num - f.den),
          sumDen * BigInt(f.den) * scale,
          roundingOf(params),
        );
        if (over(max))
          c.add(
            ruleId,
            `${pp}.factor`,
            `factor ${JSON.stringify(params.factor)} can award ${max} points on top of the base rates ${where}, over the programme's maxPointsPerEntry ${limits.maxPointsPerEntry}`,
          );
        return;
      }
    }
  });
}

/**
 * Validates an untrusted rule set. `programme` supplies the amount limits and the currency
 * exponent rates are priced with; absent, the defaults (amounts.ts, exponent 2).
 */
export function validateRuleSet(json: unknown, programme?: Partial<ProgrammeConfig>): ValidationResult {
  const c = new Collector();
  if (!isObject(json)) {
    return {
      ok: false,
      errors: [{ ruleId: null, path: "$", problem: `rule set must be an object, got ${describe(json)}` }],
    };
  }
  const rules = Array.isArray(json.rules) ? json.rules : [];
  const ruleIdOf = (path: string): string | null => {
    const m = /^\$\.rules\[(\d+)\]/.exec(path);
    if (m === null) return null;
    const r = rules[Number(m[1])];
    return isObject(r) && typeof r.id === "string" ? r.id : null;
  };
  scanJson(json, "$", 0, ruleIdOf, c);
  // "$schema" points editors at schemas/ruleset.schema.json; the engine ignores it.
  checkKeys(json, ["$schema", "id", "version", "rules", "description"], "$", null, c);
  if (Object.hasOwn(json, "$schema") && typeof json.$schema !== "string")
    c.add(null, child("$", "$schema"), `"$schema" must be a string, got ${describe(json.$schema)}`);
  requireId(json, "id", "$", null, c);
  requireInt(json, "version", 1, LIMITS.maxVersion, "$", null, c);
  if (!Object.hasOwn(json, "rules") || !Array.isArray(json.rules)) {
    c.add(null, "$.rules", `"rules" must be an array`);
  } else if (json.rules.length > LIMITS.maxRules) {
    c.add(null, "$.rules", `more than ${LIMITS.maxRules} rules`);
  }
  if (c.errors.some((e) => e.problem.startsWith("JSON nested deeper"))) {
    // Do not recurse into pathological input.
    return { ok: false, errors: c.errors };
  }
  const summaries: RuleSummary[] = [];
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    const path = `$.rules[${i}]`;
    const s = checkRule(r, path, c);
    s.index = i;
    summaries.push(s);
    if (s.id !== undefined) {
      const prev = seen.get(s.id);
      if (prev !== undefined)
        c.add(s.id, `${path}.id`, `duplicate rule id "${s.id}" (also $.rules[${prev}])`);
      else seen.set(s.id, i);
    }
  });
  checkGroups(summaries, c);
  checkAmounts(rules, amountLimitsOf(programme), programme?.currencyExponent ?? 2, c);
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  // A structural copy: later mutation of the caller's object cannot change a validated set.
  const { $schema: _editorHint, ...ruleSet } = json;
  return { ok: true, ruleSet: structuredClone(ruleSet) as unknown as RuleSet };
}

import type { Trigger } from "./types.ts";

// The fact catalogue: every fact a condition may name, its value type (for operator/value
// checks at validation time) and the triggers whose facts object carries it.

export type FactType = "number" | "string" | "boolean" | "string-array" | "object-array";

export interface FactSpec {
  type: FactType;
  /** Null is a legitimate value (e.g. no previous purchase). */
  nullable?: boolean;
  triggers: readonly Trigger[];
}

const ORDER: readonly Trigger[] = ["order.placed"];
const ALL: readonly Trigger[] = ["order.placed", "member.registered", "member.referred", "churn.alerted"];

export const FACTS: Readonly<Record<string, FactSpec>> = Object.freeze({
  "order.amountMinor": { type: "number", triggers: ORDER },
  "order.currency": { type: "string", triggers: ORDER },
  "order.baseAmountMinor": { type: "number", triggers: ORDER },
  "order.lines": { type: "object-array", triggers: ORDER },
  "order.categories": { type: "string-array", triggers: ORDER },
  "order.skus": { type: "string-array", triggers: ORDER },
  "order.quantity": { type: "number", triggers: ORDER },
  "order.channel": { type: "string", triggers: ORDER },
  "order.storeId": { type: "string", nullable: true, triggers: ORDER },
  "order.dayOfWeek": { type: "number", triggers: ORDER },
  "order.hour": { type: "number", triggers: ORDER },
  "order.month": { type: "number", triggers: ORDER },
  "member.tier": { type: "string", triggers: ALL },
  "member.enrolledAt": { type: "string", triggers: ALL },
  "member.tenureDays": { type: "number", triggers: ALL },
  "member.birthdayMonth": { type: "number", nullable: true, triggers: ALL },
  "member.isBirthdayMonth": { type: "boolean", triggers: ALL },
  "member.orderCount": { type: "number", triggers: ALL },
  "member.lifetimeSpendMinor": { type: "number", triggers: ALL },
  "member.daysSinceLastPurchase": { type: "number", nullable: true, triggers: ALL },
  "member.segment": { type: "string", nullable: true, triggers: ALL },
  "member.atRisk": { type: "boolean", triggers: ALL },
  "referral.referrerTier": { type: "string", triggers: ["member.referred"] },
  "churn.score": { type: "number", triggers: ["churn.alerted"] },
  "churn.reason": { type: "string", triggers: ["churn.alerted"] },
} satisfies Record<string, FactSpec>);

/** counters.<campaignId>.<counter>: per-member campaign counters supplied by the service. */
const COUNTER_RE = /^counters\.([a-z0-9][a-z0-9_-]{0,63})\.(memberCount|memberPoints)$/;
const COUNTER_SPEC: FactSpec = { type: "number", triggers: ALL };

export const PROTO_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export function lookupFact(name: string): FactSpec | undefined {
  if (Object.hasOwn(FACTS, name)) return FACTS[name];
  const m = COUNTER_RE.exec(name);
  if (m !== null && !PROTO_KEYS.has(m[1] ?? "")) return COUNTER_SPEC;
  return undefined;
}

export function factNames(): string[] {
  return Object.keys(FACTS);
}

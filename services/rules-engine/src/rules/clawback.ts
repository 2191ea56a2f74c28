import { mulDivRoundBig, parseRationalText, toSafePoints } from "./arith.ts";
import type { AwardKind, AwardPricing } from "./evaluate.ts";
import type { Recipient } from "./types.ts";

// Reversal of awards when an order is (partly) refunded. Works only from what was recorded
// at award time (points, rate, factor, rounding, rule version), never from current rules.
//
// Policy:
// - base and multiplier awards are re-priced on the base amount the member KEPT, with the
//   original rate/factor/rounding; the award keeps min(points, re-priced) and the rest is
//   reversed. Because the target is cumulative (computed from the total refunded so far),
//   partial refunds always add up to exactly the original points once everything is refunded,
//   and no refund ever reverses more than what is still unreversed.
// - fixed bonuses (first purchase, win-back, ...) are reversed only when the order is refunded
//   in full: a partial refund still leaves a qualifying purchase.

export interface RecordedAward {
  ruleId: string;
  ruleVersion: number;
  kind: AwardKind;
  recipient: Recipient;
  /** Points granted at award time. */
  points: number;
  pricing: AwardPricing;
  /** Points already reversed by earlier refunds of this order. */
  reversedPoints: number;
}

export interface RefundedOrder {
  /** Base-currency amount the awards were priced on. */
  baseAmountMinor: number;
  /** Order-currency amount; with `lines`, converts line refunds to base currency. */
  amountMinor: number;
  lines?: ReadonlyArray<{ sku: string; quantity: number; unitPriceMinor: number }>;
}

/** Cumulative refund state of an order before (and, in the result, after) a refund. */
export interface RefundState {
  refundedBaseMinor: number;
  /** Quantities refunded so far per sku (line refunds only). */
  refundedLines?: Readonly<Record<string, number>>;
}

export type Refund =
  | { kind: "amount"; baseAmountMinor: number }
  | { kind: "lines"; lines: ReadonlyArray<{ sku: string; quantity: number }> }
  | { kind: "full" };

export interface Reversal {
  awardIndex: number;
  ruleId: string;
  ruleVersion: number;
  kind: AwardKind;
  recipient: Recipient;
  points: number;
}

export interface ClawbackResult {
  /** Base amount this refund added (after clamping to the order). */
  refundBaseMinor: number;
  state: RefundState;
  fullyRefunded: boolean;
  reversals: Reversal[];
  totalPoints: Record<Recipient, number>;
}

function assertCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
}

/** Order-currency value of cumulative refunded quantities; lines sharing a sku are consumed in order. */
function linesValue(order: RefundedOrder, refunded: Readonly<Record<string, number>>): number {
  const lines = order.lines ?? [];
  let total = 0;
  for (const sku of Object.keys(refunded)) {
    let left = refunded[sku] ?? 0;
    for (const l of lines) {
      if (l.sku !== sku || left === 0) continue;
      const q = Math.min(left, l.quantity);
      total += q * l.unitPriceMinor;
      left -= q;
    }
    if (left > 0) throw new Error(`refund of sku ${sku} exceeds the quantity ordered`);
  }
  return total;
}

/** Converts a cumulative order-currency amount to base currency, half-even, exact at 100%. */
function toBase(order: RefundedOrder, valueMinor: number): number {
  if (valueMinor >= order.amountMinor) return order.baseAmountMinor;
  if (order.amountMinor === 0) return 0;
  return toSafePoints(
    mulDivRoundBig(BigInt(valueMinor), BigInt(order.baseAmountMinor), BigInt(order.amountMinor), "half-even"),
    "refunded base amount",
  );
}

function repriced(pricing: AwardPricing, keptBaseMinor: number): number {
  if (pricing.kind === "bonus") return 0;
  const rate = parseRationalText(pricing.rate);
  let num = rate.num;
  let den = rate.den * 10n ** BigInt(pricing.currencyExponent);
  if (pricing.kind === "multiplier") {
    const f = parseRationalText(pricing.factor);
    num *= f.num - f.den;
    den *= f.den;
  }
  return toSafePoints(mulDivRoundBig(BigInt(keptBaseMinor), num, den, pricing.rounding), "re-priced award");
}

export function clawback(input: {
  order: RefundedOrder;
  awards: readonly RecordedAward[];
  previous?: RefundState;
  refund: Refund;
}): ClawbackResult {
  const { order, awards, refund } = input;
  const B = order.baseAmountMinor;
  assertCount(B, "baseAmountMinor");
  const prev = input.previous ?? { refundedBaseMinor: 0 };
  assertCount(prev.refundedBaseMinor, "refundedBaseMinor");
  const prevR = Math.min(B, prev.refundedBaseMinor);
  let newR: number;
  let refundedLines = prev.refundedLines;
  switch (refund.kind) {
    case "full":
      newR = B;
      break;
    case "amount":
      assertCount(refund.baseAmountMinor, "refund amount");
      newR = Math.min(B, prevR + refund.baseAmountMinor);
      break;
    case "lines": {
      const before: Record<string, number> = Object.create(null);
      for (const [sku, q] of Object.entries(prev.refundedLines ?? {})) before[sku] = q;
      const after: Record<string, number> = Object.create(null);
      Object.assign(after, before);
      for (const l of refund.lines) {
        assertCount(l.quantity, `quantity of ${l.sku}`);
        after[l.sku] = (after[l.sku] ?? 0) + l.quantity;
      }
      // Convert cumulatively so that refunding every line lands exactly on the base amount.
      const delta = toBase(order, linesValue(order, after)) - toBase(order, linesValue(order, before));
      newR = Math.min(B, prevR + delta);
      refundedLines = { ...after };
      break;
    }
  }
  const full = newR >= B;
  const kept = B - newR;
  const reversals: Reversal[] = [];
  const totalPoints: Record<Recipient, number> = { member: 0, referrer: 0 };
  awards.forEach((a, awardIndex) => {
    assertCount(a.points, "award points");
    assertCount(a.reversedPoints, "reversedPoints");
    const remaining = a.points - Math.min(a.points, a.reversedPoints);
    if (remaining === 0) return;
    let target: number;
    if (a.pricing.kind === "bonus") target = full ? a.points : 0;
    else target = a.points - Math.min(a.points, repriced(a.pricing, kept));
    const points = Math.min(remaining, Math.max(0, target - a.reversedPoints));
    if (points === 0) return;
    reversals.push({
      awardIndex,
      ruleId: a.ruleId,
      ruleVersion: a.ruleVersion,
      kind: a.kind,
      recipient: a.recipient,
      points,
    });
    totalPoints[a.recipient] += points;
  });
  const state: RefundState = { refundedBaseMinor: newR };
  if (refundedLines !== undefined) state.refundedLines = refundedLines;
  return { refundBaseMinor: newR - prevR, state, fullyRefunded: full, reversals, totalPoints };
}

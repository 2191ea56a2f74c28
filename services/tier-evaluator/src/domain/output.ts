// Policy tier changes -> loyalty.tiers.v1 records, with ids derived from the change itself.
import { createHash } from "node:crypto";
import type { TierChanged } from "@loyalty/contracts";
import type { TierChange, TierChangeReason } from "@loyalty/tiers";

const REASONS: Readonly<Record<TierChangeReason, TierChanged["reason"]>> = {
  qualified: "QUALIFIED",
  "grace-expired": "GRACE_EXPIRED",
  evaluation: "EVALUATION",
};

/**
 * tier- + sha256(member, from, to, effectiveAt): a member can make one given move at one
 * instant only once, and effective times come from event times and the evaluation schedule,
 * never from when the evaluator ran, so a replay derives the same id.
 */
export function tierChangeId(c: Pick<TierChange, "memberId" | "from" | "to" | "effectiveAt">): string {
  const parts = ["tier-change", c.memberId, c.from, c.to, String(c.effectiveAt)];
  return `tier-${createHash("sha256").update(parts.join("\u0000"), "utf8").digest("hex").slice(0, 32)}`;
}

export function toTierChanged(c: TierChange): TierChanged {
  return {
    eventId: tierChangeId(c),
    memberId: c.memberId,
    fromTier: c.from,
    toTier: c.to,
    direction: c.direction === "up" ? "UP" : "DOWN",
    reason: REASONS[c.reason],
    metric: c.metric,
    metricValue: c.metricValue,
    threshold: c.threshold,
    effectiveAt: c.effectiveAt,
    evaluationDate: c.evaluationDate ?? null,
  };
}

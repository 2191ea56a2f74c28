import type { LotShare, PointsKind, PointsMovement } from "@loyalty/contracts";
import { stableId } from "@loyalty/contracts/ids";
import type { TierState } from "@loyalty/tiers";
import type { RecordedAward } from "../rules/clawback.ts";
import type { AwardKind, LimitKind } from "../rules/evaluate.ts";
import type { Recipient } from "../rules/types.ts";

// The rows a batch works on, as plain objects. The PostgreSQL store loads them (locked) and
// writes back what changed; the simulator keeps them all in memory. The processing itself
// (process.ts) is pure and the same for both.

export interface MemberRow {
  memberId: string;
  enrolledAt: number | null;
  enrolmentEventId: string | null;
  /** YYYY-MM-DD or --MM-DD. */
  birthday: string | null;
  referrerMemberId: string | null;
  segment: string | null;
  /** Churn alerts no purchase has answered yet, in event-time order (see churnFactsAt). */
  riskAlerts: RiskAlert[];
  /** Orders before the next one (purchases minus cancellations). */
  orderCount: number;
  lifetimeSpendMinor: number;
  lastPurchaseAt: number | null;
  tierState: TierState | null;
  counters: Record<string, { memberCount: number; memberPoints: number }>;
}

export interface RiskAlert {
  /** The alert's event time. */
  at: number;
  /** The member's segment as churn-alert saw it then. */
  segment: string | null;
}

/**
 * The churn facts of a member at event time t (ADR 12): at risk when an alert at or before t has
 * not been answered by a purchase, with the segment of the latest such alert. An alert read ahead
 * of the purchases before it (the engine reads two topics) stays in the future until its time.
 */
export function churnFactsAt(m: MemberRow, t: number): { atRisk: boolean; segment: string | null } {
  let due: RiskAlert | undefined;
  for (const a of m.riskAlerts) if (a.at <= t) due = a;
  return due === undefined ? { atRisk: false, segment: m.segment } : { atRisk: true, segment: due.segment };
}

export function addRiskAlert(m: MemberRow, a: RiskAlert): void {
  m.riskAlerts = [...m.riskAlerts, a].sort((p, q) => p.at - q.at);
}

/** A purchase at t is the member's return from the alerts at or before it. */
export function answerRiskAlerts(m: MemberRow, t: number): void {
  const facts = churnFactsAt(m, t);
  m.segment = facts.segment;
  m.riskAlerts = m.riskAlerts.filter((a) => a.at > t);
}

export interface BalanceRow {
  memberId: string;
  balance: number;
  debt: number;
  shortfall: number;
}

export interface LotRow {
  lotId: string;
  memberId: string;
  points: number;
  remaining: number;
  earnedAt: number;
  expiresAt: number;
}

export interface StoredAward extends RecordedAward {
  entryId: string;
  /**
   * Points of the award's lot that had expired and were set against the claims of its
   * reversals (ADR 14); absent: none yet.
   */
  expiredCredited?: number;
}

export interface OrderRow {
  orderKey: string;
  memberId: string;
  purchaseEventId: string;
  eventTime: number;
  amountMinor: number;
  baseAmountMinor: number;
  ruleSetId: string;
  ruleSetVersion: number;
  refundedBaseMinor: number;
  awards: StoredAward[];
}

export type EntryKind = "earn" | "reverse" | "redeem" | "expire" | "adjust";

export interface EntryRow {
  entryId: string;
  memberId: string;
  kind: EntryKind;
  points: number;
  balanceAfter: number;
  ruleId: string | null;
  ruleVersion: number | null;
  ruleSetId: string | null;
  ruleSetVersion: number | null;
  sourceEventId: string;
  orderId: string | null;
  reason: string | null;
  eventTime: number;
  /** Earns, reversals, expiries; a ledger command's entry records its own (engine/commands.ts). */
  detail: EarnDetail | ReverseDetail | ExpiryDetail | Record<string, unknown> | null;
  /** earn entries: expiry of the lot they created. */
  lotExpiresAt: number | null;
  /** The lots the entry opened or took from, for its record (attachLots, once the batch is decided). */
  lots?: LotShare[];
}

const KIND: Readonly<Record<EntryKind, PointsKind>> = {
  earn: "EARNED",
  reverse: "REVERSED",
  redeem: "REDEEMED",
  expire: "EXPIRED",
  adjust: "ADJUSTED",
};

/** The PointsMovement of a ledger entry (its eventId is the entry id). */
export function toMovement(e: EntryRow): PointsMovement {
  return {
    eventId: e.entryId,
    memberId: e.memberId,
    kind: KIND[e.kind],
    points: e.points,
    balanceAfter: e.balanceAfter,
    ruleId: e.ruleId,
    ruleVersion: e.ruleVersion,
    ruleSetVersion: e.ruleSetVersion,
    sourceEventId: e.sourceEventId,
    orderId: e.orderId,
    reason: e.reason,
    eventTime: e.eventTime,
    lotExpiresAt: e.lotExpiresAt,
    ruleSetId: e.ruleSetId,
    lots: e.lots ?? [],
  };
}

/**
 * Pure: gives each entry of a decided batch the lots it opened (a new lot's id is its entry id:
 * earns, positive adjustments) and the lot movements it made, in the order they were made, for
 * its loyalty.points.v1 record (the member API's read model of lots).
 */
export function attachLots(
  entries: readonly EntryRow[],
  newLots: readonly LotRow[],
  movements: readonly LotMovement[],
): void {
  const byEntry = new Map<string, LotShare[]>();
  const add = (entryId: string, share: LotShare) => {
    const list = byEntry.get(entryId);
    if (list) list.push(share);
    else byEntry.set(entryId, [share]);
  };
  for (const l of newLots) add(l.lotId, { lotId: l.lotId, points: l.points, expiresAt: l.expiresAt });
  for (const m of movements) add(m.entryId, { lotId: m.lotId, points: m.points, expiresAt: null });
  for (const e of entries) e.lots = byEntry.get(e.entryId) ?? [];
}

export interface EarnDetail {
  awardKind: AwardKind;
  recipient: Recipient;
  requestedPoints: number;
  trimmedBy: LimitKind[];
  pricing: RecordedAward["pricing"];
}

export interface ReverseDetail {
  awardEntryId: string;
  /** What clawback() asked for. */
  claimed: number;
  /** Of the claim, points of the award's lot that had expired: not taken again (ADR 14). */
  expired: number;
  /** claimed - expired - reversed: what the balance could not cover. */
  shortfall: number;
}

export interface ExpiryDetail {
  lotId: string;
  /** The how-many-th expiry of the lot (0 normally; see expirySourceOf). */
  expiry: number;
  /**
   * The input event this expiry is an output of: the event it preceded, or the last event of the
   * batch whose punctuation expired it (published with that event's outputs, again on redelivery).
   */
  trigger: string;
}

/**
 * Source event of the n-th expiry of a lot (n = 0 normally; a cancelled redemption can put
 * points back into an already expired lot, which then expires again). Derived from the lot id
 * only: the engine and the API's expiry job name the same entry, which the primary key refuses
 * twice.
 */
export const expirySourceOf = (lotId: string, n: number): string =>
  n === 0 ? `expiry:${lotId}` : `expiry:${lotId}:${n}`;

export interface LotMovement {
  entryId: string;
  lotId: string;
  points: number;
}

export interface CampaignRow {
  eventId: string;
  memberId: string;
  campaignId: string;
  ruleId: string;
  ruleVersion: number;
  ruleSetVersion: number;
  sourceEventId: string;
  eventTime: number;
  rewardJson: string;
}

export interface PricedEvent {
  eventId: string;
  memberId: string;
  eventKind: string;
  ruleSetId: string;
  ruleSetVersion: number;
  eventTime: number;
}

export function emptyMember(memberId: string): MemberRow {
  return {
    memberId,
    enrolledAt: null,
    enrolmentEventId: null,
    birthday: null,
    referrerMemberId: null,
    segment: null,
    riskAlerts: [],
    orderCount: 0,
    lifetimeSpendMinor: 0,
    lastPurchaseAt: null,
    tierState: null,
    counters: {},
  };
}

export function emptyBalance(memberId: string): BalanceRow {
  return { memberId, balance: 0, debt: 0, shortfall: 0 };
}

export const orderKeyOf = (source: string, orderId: string): string => `${source}/${orderId}`;

/** Usage counter key: member, rule, scope, day ('' for campaign scope). */
export const usageKey = (memberId: string, ruleId: string, scope: "day" | "campaign", day: string): string =>
  `${memberId}\u0000${ruleId}\u0000${scope}\u0000${day}`;

export function splitUsageKey(key: string): [string, string, "day" | "campaign", string] {
  const [m, r, s, d] = key.split("\u0000");
  return [m ?? "", r ?? "", s === "day" ? "day" : "campaign", d ?? ""];
}

/** PointsMovement.eventId / ledger entry id: derived from the natural key only. */
export const entryIdOf = (sourceEventId: string, ruleId: string | null, kind: string, memberId: string) =>
  stableId("pts", [sourceEventId, ruleId ?? "", kind, memberId]);

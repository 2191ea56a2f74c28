// Generated from schemas/avro by packages/contracts/src/codegen.ts. Do not edit.

/** A campaign triggered for a member (loyalty.campaigns.v1), key = member id. */
export interface CampaignTriggered {
  eventId: string;
  memberId: string;
  campaignId: string;
  ruleId: string;
  ruleVersion: number;
  sourceEventId: string;
  eventTime: number;
  /** The rule's reward payload for downstream services, as JSON text. */
  rewardJson: string;
}

/** BG/NBD parameters of the fit that raised the alert (time unit: the service's CHURN_UNIT_DAYS). */
export interface ChurnModelParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

/** A member at risk of churning (loyalty.churn-alerts.v1), key = member id. */
export interface ChurnAlert {
  eventId: string;
  memberId: string;
  eventTime: number;
  pAlive: number;
  expectedPurchases: number;
  horizonDays: number;
  expectedValueMinor: number;
  currency: string;
  segment: string;
  /** high-value-at-risk, at-risk or low-value-at-risk. */
  actionLevel: string;
  reason: string;
  /** The fit that raised the alert (churn_fits.model_version); always an accepted fit. */
  modelVersion: string;
  /** BG/NBD parameters of modelVersion; null on alerts raised before they were recorded. */
  bgnbd?: null | ChurnModelParams;
}

export interface DeadLetterHeader {
  key: string;
  value: null | Buffer;
}

/** Rejected input (loyalty.dlq.v1), key = source topic/partition/offset. */
export interface DeadLetter {
  /** One of the enumerated reason codes in docs/topics.md. */
  reasonCode: string;
  reason: string;
  service: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  sourceTimestamp: number;
  originalKey: null | Buffer;
  originalValue: null | Buffer;
  /** Deprecated: use headers. Each header as UTF-8 text, repeated values joined with commas; not byte-exact. */
  originalHeaders: Record<string, string>;
  /** The original headers in record order, each value as the bytes it came with; a repeated header is one entry per value. */
  headers: Array<DeadLetterHeader>;
}

export type LedgerCommandType = "REDEEM" | "CANCEL_REDEMPTION" | "ADJUST";

/** A request to change a member's points ledger (loyalty.ledger-commands.v1), key = member id, co-partitioned with loyalty.purchases.v1: the ledger's owner (the rules engine) applies it in the member's partition order, and answers on loyalty.ledger-replies.v1 (ADR 16 step 3). */
export interface LedgerCommand {
  /** Idempotency key, unique per requester (the member API: API key id + Idempotency-Key). The reply carries it; a command with the same id is applied once. */
  commandId: string;
  memberId: string;
  type: LedgerCommandType;
  /** REDEEM: > 0, taken from the open lots soonest expiring first. ADJUST: != 0 (+ pays off debt, then opens a lot; - is taken like a redemption). CANCEL_REDEMPTION: 0. */
  points: number;
  /** CANCEL_REDEMPTION: the commandId of the REDEEM to cancel; its points go back into the lots it took them from. */
  redemptionId: null | string;
  orderId: null | string;
  /** Required for ADJUST. */
  reason: null | string;
  /** ADJUST with points > 0: expiry of the lot it opens (default: the programme's expiry months after requestedAt). */
  expiresAt: null | number;
  /** Who asked (the member API's key id); recorded on the entry. */
  requestedBy: string;
  /** When it was asked (the requester's clock); the entry's event time is the member's partition stream time when applied. */
  requestedAt: number;
}

export type LedgerReplyStatus = "ACCEPTED" | "REJECTED";

/** The ledger owner's answer to one LedgerCommand (loyalty.ledger-replies.v1), key = commandId. Written in the same Kafka transaction as the command's entries on loyalty.points.v1. */
export interface LedgerReply {
  commandId: string;
  memberId: string;
  status: LedgerReplyStatus;
  /** REJECTED: INSUFFICIENT_BALANCE, MEMBER_NOT_FOUND, REDEMPTION_NOT_FOUND, INVALID_COMMAND. */
  reasonCode: null | string;
  message: null | string;
  /** ACCEPTED: the ledger entry (= PointsMovement.eventId). */
  entryId: null | string;
  /** ACCEPTED: the signed change of the balance. */
  points: null | number;
  /** The balance after the command (ACCEPTED) or the balance that refused it (REJECTED). */
  balanceAfter: null | number;
  /** ACCEPTED: JSON array of {lotId, points, expiresAt} the entry took from or put into. */
  lotsJson: null | string;
  /** Event time of the entry: the member's partition stream time when applied. */
  appliedAt: number;
}

export type MemberChangeType = "ENROLLED" | "PROFILE_UPDATED";

/** A canonical member event (loyalty.members.v1), key = member id. */
export interface MemberChanged {
  eventId: string;
  type: MemberChangeType;
  memberId: string;
  eventTime: number;
  /** registration, or auto-enrolment by first order. */
  enrolledVia: null | string;
  birthday: null | string;
  referrerMemberId: null | string;
}

export type PointsKind = "EARNED" | "REVERSED" | "REDEEMED" | "EXPIRED" | "ADJUSTED";

/** What one ledger entry did to one lot. */
export interface LotShare {
  lotId: string;
  /** Signed change of the lot's remaining points. */
  points: number;
  /** Set when the entry opened the lot: its expiry. */
  expiresAt: null | number;
}

/** A committed ledger movement (loyalty.points.v1), key = member id. */
export interface PointsMovement {
  /** Stable: derived from the source event id, rule id and kind. */
  eventId: string;
  memberId: string;
  kind: PointsKind;
  /** Signed change of the balance. */
  points: number;
  balanceAfter: number;
  ruleId: null | string;
  ruleVersion: null | number;
  ruleSetVersion: null | number;
  sourceEventId: string;
  orderId: null | string;
  reason: null | string;
  eventTime: number;
  lotExpiresAt: null | number;
  /** The rule set whose rule made an EARNED or REVERSED entry (with ruleSetVersion); null otherwise and on records written before this field. */
  ruleSetId: null | string;
  /** The lots this entry opened or took from, in the order the ledger moved them: an EARNED entry and a positive ADJUSTED one open a lot (lot id = eventId, points > 0, expiresAt set); REDEEMED, EXPIRED, REVERSED and negative ADJUSTED entries take from lots (points < 0); a cancelled redemption (ADJUSTED) puts points back into the lots it took (points > 0, expiresAt null). Their sum minus the entry's points is the change of the member's debt. Empty on records written before this field. */
  lots: Array<LotShare>;
}

export type PurchaseEventType = "PURCHASE" | "REFUND" | "CANCELLATION";

export interface PurchaseLine {
  lineId: string;
  sku: string;
  category: null | string;
  quantity: number;
  unitPriceMinor: number;
  baseLineTotalMinor: number;
}

/** A canonical purchase, refund or cancellation (loyalty.purchases.v1), key = member id. */
export interface PurchaseEvent {
  /** Stable: derived from source, order id, event type and revision (and refund id). */
  eventId: string;
  type: PurchaseEventType;
  memberId: string;
  source: string;
  orderId: string;
  eventTime: number;
  /** Original amount in the original currency. */
  amountMinor: number;
  currency: string;
  /** Amount in the programme's base currency. */
  baseAmountMinor: number;
  baseCurrency: string;
  /** Decimal rate applied (original -> base), as text to keep it exact. */
  fxRate: string;
  lines: Array<PurchaseLine>;
  channel: null | string;
  storeId: null | string;
  refundId: null | string;
  refundedLineIds: Array<string>;
}

/** A published rule set (loyalty.rules.v1, compacted), key = rule set id. The engine accepts it only when signed by a key in RULES_PUBLIC_KEYS (docs/security.md). */
export interface RuleSetPublished {
  ruleSetId: string;
  version: number;
  publishedAt: number;
  /** sha256 (hex) of ruleSetJson, the canonical JSON of the rule set (keys sorted). */
  checksum: string;
  /** The validated rule set; rules are data, never code. */
  ruleSetJson: string;
  /** Who published (RULES_PUBLISHER or --publisher); signed. Null only on publications made before signing, which the engine refuses. */
  publisher: null | string;
  /** Id of the Ed25519 signing key: the first 16 hex digits of sha256 of its public key (SPKI DER). */
  keyId: null | string;
  /** sha256 (hex) of the canonical signed statement (id, version, publisher, publishedAt, keyId, checksum): the bytes the signature covers. */
  digest: null | string;
  /** Ed25519 signature of the digest's 32 bytes by the key keyId. */
  signature: null | Buffer;
}

export type TierDirection = "UP" | "DOWN";

export type TierChangeReason = "QUALIFIED" | "GRACE_EXPIRED" | "EVALUATION";

/** A member's tier changed (loyalty.tiers.v1), key = member id. */
export interface TierChanged {
  eventId: string;
  memberId: string;
  fromTier: string;
  toTier: string;
  direction: TierDirection;
  reason: TierChangeReason;
  metric: string;
  metricValue: number;
  threshold: number;
  effectiveAt: number;
  evaluationDate: null | number;
}

export type MemberEventType = "MEMBER_REGISTERED" | "MEMBER_PROFILE_UPDATED";

/** An upstream member event (members.v1). */
export interface MemberEvent {
  source: string;
  type: MemberEventType;
  customerId: string;
  revision: number;
  occurredAt: number;
  /** YYYY-MM-DD or --MM-DD. */
  birthday: null | string;
  referrerCustomerId: null | string;
}

export type OrderEventType = "ORDER_PLACED" | "ORDER_REFUNDED" | "ORDER_CANCELLED";

export interface OrderLine {
  lineId: string;
  sku: string;
  category: null | string;
  quantity: number;
  unitPriceMinor: number;
  lineTotalMinor: number;
}

/** An upstream order event (orders.v1). Upstream may also send the same shape as plain JSON. */
export interface OrderEvent {
  /** Upstream system that emitted the event, e.g. a shop or POS id. */
  source: string;
  type: OrderEventType;
  orderId: string;
  /** Bumped by upstream when it re-sends a corrected event. */
  revision: number;
  customerId: string;
  occurredAt: number;
  /** ISO 4217 code. */
  currency: string;
  /** Order total (placed) or amount refunded (refunded), integer minor units. */
  totalMinor: number;
  lines: Array<OrderLine>;
  channel: null | string;
  storeId: null | string;
  /** Set on ORDER_REFUNDED; one refund may be re-sent, never applied twice. */
  refundId: null | string;
  /** Lines refunded; empty means an amount-only refund. */
  refundedLineIds: Array<string>;
}

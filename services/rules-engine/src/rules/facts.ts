import type { ProgrammeConfig } from "./types.ts";

// Building the facts object an evaluation sees. Pure: every time-derived fact is computed
// from the event time in the programme time zone, never from the wall clock.

export interface OrderLineInput {
  sku: string;
  category: string;
  quantity: number;
  unitPriceMinor: number;
}

export interface OrderInput {
  orderId: string;
  /** Event time: ISO-8601 with offset, epoch ms or Date. */
  placedAt: string | number | Date;
  currency: string;
  amountMinor: number;
  /** Required when `currency` is not the programme base currency (converted upstream). */
  baseAmountMinor?: number;
  channel: string;
  storeId?: string | null;
  lines: readonly OrderLineInput[];
}

export interface CounterInput {
  memberCount?: number;
  memberPoints?: number;
}

export interface MemberInput {
  memberId: string;
  tier: string;
  segment?: string | null;
  enrolledAt: string;
  /** 1-12, null when unknown. */
  birthdayMonth?: number | null;
  /** Orders before the current one. */
  orderCount: number;
  lifetimeSpendMinor: number;
  lastPurchaseAt?: string | null;
  atRisk?: boolean;
  /** Per-campaign counters for this member, keyed by campaign id. */
  counters?: Readonly<Record<string, CounterInput>>;
}

export interface OrderFacts {
  order: {
    amountMinor: number;
    currency: string;
    baseAmountMinor: number;
    lines: Array<{ sku: string; category: string; quantity: number; unitPriceMinor: number }>;
    categories: string[];
    skus: string[];
    quantity: number;
    channel: string;
    storeId: string | null;
    dayOfWeek: number;
    hour: number;
    month: number;
  };
  member: MemberFacts;
  counters: Record<string, CounterInput>;
}

export interface MemberFacts {
  tier: string;
  enrolledAt: string;
  tenureDays: number;
  birthdayMonth: number | null;
  isBirthdayMonth: boolean;
  orderCount: number;
  lifetimeSpendMinor: number;
  daysSinceLastPurchase: number | null;
  segment: string | null;
  atRisk: boolean;
}

const DAY_MS = 86_400_000;
const BUCKET_MS = 900_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, Map<number, number>>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      hourCycle: "h23",
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** UTC offset (ms) of `timeZone` at instant `ms`, straight from Intl. */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(ms)) {
    if (part.type !== "literal") p[part.type] = Number(part.value);
  }
  const wall = Date.UTC(
    p.year ?? 1970,
    (p.month ?? 1) - 1,
    p.day ?? 1,
    (p.hour ?? 0) % 24,
    p.minute ?? 0,
    p.second ?? 0,
  );
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * Local day of week (0 = Sunday), hour and month (1-12) of an instant in an IANA zone.
 * Offsets are memoised per 15-minute UTC bucket: zone offsets are multiples of 15 minutes
 * and transitions happen at local whole hours, so an offset never changes inside a bucket.
 */
export function zonedParts(ms: number, timeZone: string): { dayOfWeek: number; hour: number; month: number } {
  let zone = offsets.get(timeZone);
  if (zone === undefined) {
    zone = new Map();
    offsets.set(timeZone, zone);
  }
  const bucket = Math.floor(ms / BUCKET_MS);
  let offset = zone.get(bucket);
  if (offset === undefined) {
    offset = zoneOffsetMs(bucket * BUCKET_MS, timeZone);
    if (zone.size > 100_000) zone.clear(); // bound memory in long-running processes
    zone.set(bucket, offset);
  }
  const local = new Date(ms + offset);
  return { dayOfWeek: local.getUTCDay(), hour: local.getUTCHours(), month: local.getUTCMonth() + 1 };
}

function toMs(t: string | number | Date): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === "number" ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new Error(`invalid timestamp ${String(t)}`);
  return ms;
}

function wholeDaysBetween(fromIso: string | null | undefined, toMsValue: number): number | null {
  if (fromIso === null || fromIso === undefined) return null;
  const from = Date.parse(fromIso);
  if (!Number.isFinite(from)) return null;
  return Math.max(0, Math.floor((toMsValue - from) / DAY_MS));
}

function copyCounters(counters: MemberInput["counters"]): Record<string, CounterInput> {
  // A null-prototype copy: campaign ids become keys, and a key like "__proto__" must stay data.
  const out = Object.create(null) as Record<string, CounterInput>;
  if (counters === undefined) return out;
  for (const id of Object.keys(counters)) {
    const c = counters[id];
    if (c !== undefined) out[id] = { ...c };
  }
  return out;
}

/** Member facts as seen at `atMs` (month derived in the programme zone). */
export function buildMemberFacts(member: MemberInput, programme: ProgrammeConfig, atMs: number): MemberFacts {
  const { month } = zonedParts(atMs, programme.timeZone);
  const birthdayMonth = member.birthdayMonth ?? null;
  return {
    tier: member.tier,
    enrolledAt: member.enrolledAt,
    tenureDays: wholeDaysBetween(member.enrolledAt, atMs) ?? 0,
    birthdayMonth,
    isBirthdayMonth: birthdayMonth === month,
    orderCount: member.orderCount,
    lifetimeSpendMinor: member.lifetimeSpendMinor,
    daysSinceLastPurchase: wholeDaysBetween(member.lastPurchaseAt, atMs),
    segment: member.segment ?? null,
    atRisk: member.atRisk === true,
  };
}

/**
 * Facts for an order.placed event. Day of week (0 = Sunday), hour (0-23) and month (1-12)
 * are local to the programme time zone. Day counts are whole elapsed 24-hour periods.
 */
export function buildOrderFacts(
  order: OrderInput,
  member: MemberInput,
  programme: ProgrammeConfig,
): OrderFacts {
  const at = toMs(order.placedAt);
  let base = order.baseAmountMinor;
  if (base === undefined) {
    if (order.currency !== programme.baseCurrency) {
      throw new Error(
        `order ${order.orderId}: ${order.currency} order needs baseAmountMinor in ${programme.baseCurrency}`,
      );
    }
    base = order.amountMinor;
  }
  const categories: string[] = [];
  const skus: string[] = [];
  let quantity = 0;
  const lines = order.lines.map((l) => {
    if (!categories.includes(l.category)) categories.push(l.category);
    if (!skus.includes(l.sku)) skus.push(l.sku);
    quantity += l.quantity;
    return { sku: l.sku, category: l.category, quantity: l.quantity, unitPriceMinor: l.unitPriceMinor };
  });
  const { dayOfWeek, hour, month } = zonedParts(at, programme.timeZone);
  return {
    order: {
      amountMinor: order.amountMinor,
      currency: order.currency,
      baseAmountMinor: base,
      lines,
      categories,
      skus,
      quantity,
      channel: order.channel,
      storeId: order.storeId ?? null,
      dayOfWeek,
      hour,
      month,
    },
    member: buildMemberFacts(member, programme, at),
    counters: copyCounters(member.counters),
  };
}

/** Facts for member.registered / member.referred / churn.alerted events. */
export function buildMemberEventFacts(
  member: MemberInput,
  programme: ProgrammeConfig,
  eventTime: string | number | Date,
  extra: { referral?: { referrerTier: string }; churn?: { score: number; reason: string } } = {},
): {
  member: MemberFacts;
  counters: Record<string, CounterInput>;
  referral?: { referrerTier: string };
  churn?: { score: number; reason: string };
} {
  const facts: {
    member: MemberFacts;
    counters: Record<string, CounterInput>;
    referral?: { referrerTier: string };
    churn?: { score: number; reason: string };
  } = {
    member: buildMemberFacts(member, programme, toMs(eventTime)),
    counters: copyCounters(member.counters),
  };
  if (extra.referral !== undefined) facts.referral = { ...extra.referral };
  if (extra.churn !== undefined) facts.churn = { ...extra.churn };
  return facts;
}

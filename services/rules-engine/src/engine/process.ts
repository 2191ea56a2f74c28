import type {
  ChurnAlert,
  LedgerCommand,
  LedgerReply,
  MemberChanged,
  PurchaseEvent,
} from "@loyalty/contracts";
import { stableId } from "@loyalty/contracts/ids";
import { PoisonMessageError } from "@loyalty/stream-runtime/errors";
import {
  type TierConfig,
  type TierState,
  addMonthsUtc,
  advanceTo,
  apply,
  initialState,
  tierAt,
} from "@loyalty/tiers";
import { amountLimitsOf } from "../rules/amounts.ts";
import { AmountOutOfRangeError, addPoints } from "../rules/arith.ts";
import { clawback } from "../rules/clawback.ts";
import type { CompiledRuleSet } from "../rules/compile.ts";
import type { Award, CampaignTrigger, Evaluation, MemberUsage, UsageSnapshot } from "../rules/evaluate.ts";
import { evaluate } from "../rules/evaluate.ts";
import { type MemberInput, buildMemberEventFacts, buildOrderFacts, zoneOffsetMs } from "../rules/facts.ts";
import type { ProgrammeConfig, Trigger } from "../rules/types.ts";
import { type CommandView, type StoredCommand, decideCommand } from "./commands.ts";
import { DueLots } from "./due-lots.ts";
import {
  type BalanceRow,
  type CampaignRow,
  type EntryRow,
  type LotMovement,
  type LotRow,
  type MemberRow,
  type OrderRow,
  type PricedEvent,
  type StoredAward,
  addRiskAlert,
  answerRiskAlerts,
  churnFactsAt,
  emptyBalance,
  emptyMember,
  entryIdOf,
  expirySourceOf,
  orderKeyOf,
  usageKey,
} from "./model.ts";
import type { PublishedVersion, RuleSetRegistry } from "./registry.ts";

// The earning pipeline of one batch, pure and synchronous: decoded events in, ledger rows
// and state changes out. The service runs it on rows loaded (and locked) from PostgreSQL,
// the simulator on rows kept in memory; both get the same awards.

export type EngineEvent =
  | { kind: "purchase"; event: PurchaseEvent }
  | { kind: "member"; event: MemberChanged }
  | { kind: "churn"; event: ChurnAlert }
  /**
   * A ledger command (engine/commands.ts). `event.eventId` names the record (`cmd:<partition>:<offset>`:
   * a duplicate command is another record), `event.eventTime` is its requestedAt: a command is
   * applied at the task's stream time, which it does not move.
   */
  | {
      kind: "command";
      event: { eventId: string; memberId: string; eventTime: number };
      command: LedgerCommand;
    };

/** Per-record punctuation of a batch of one purchases partition (see BatchProcessor.run). */
export interface StreamPunctuation {
  /** The partition's stream time before the batch (event mode). */
  from: number;
  /** Wall mode: the wall clock, for every record. Null: event time. */
  wallTime: number | null;
  owns: (memberId: string) => boolean;
}

export interface EngineOptions {
  programme: ProgrammeConfig;
  tierConfig: TierConfig;
  /** Lots expire this many calendar months after the event that earned them. */
  expiryMonths: number;
  /** Whether a clawback may take the balance below zero (the excess becomes debt). */
  allowNegativeBalance: boolean;
}

/** Rows a batch starts from. Every member/balance/order the events need must be present or absent-for-new. */
export interface LoadedState {
  members: Map<string, MemberRow>;
  balances: Map<string, BalanceRow>;
  /** Open lots of the members listed in lotsLoadedFor (all of their lots with remaining > 0). */
  lots: Map<string, LotRow[]>;
  lotsLoadedFor: Set<string>;
  /**
   * How many times each loaded due lot expired already (a cancelled redemption can put points
   * back into an expired lot, which then expires again: its n-th expiry, see expirySourceOf).
   */
  expiryCounts: Map<string, number>;
  /**
   * Points expired so far from the loaded due lots and from each lot an award of a refunded
   * order created (lot id = the award's entry id), plus what expires in memory since: a
   * clawback does not take them a second time (ADR 14).
   */
  lotsExpired: Map<string, number>;
  orders: Map<string, OrderRow>;
  usage: Map<string, number>;
  /** Points used per budgeted rule id. */
  budgets: Map<string, number>;
  /**
   * Ledger commands recorded (rules_ledger_commands) by command id: the batch's command ids and
   * the redemptions its cancellations name. Absent: a new command.
   */
  commands: Map<string, StoredCommand>;
  /** Accepted cancellations by the redemption id they cancelled. */
  cancellations: Map<string, StoredCommand>;
}

export { stableId };

/**
 * rules_usage rule id of a member's programme-wide total per day (maxPointsPerMemberPerDay).
 * No rule id can be "*" (the validator's id pattern), so it never meets a rule's own counter.
 */
export const PROGRAMME_DAY_USAGE = "*";

/**
 * An event whose awards would exceed the programme's amount limits (or leave the safe-integer
 * range): nothing of it is written and the input record is dead-lettered as AMOUNT_LIMIT.
 */
export class AmountLimitError extends PoisonMessageError {
  constructor(
    readonly limit: "entry" | "member-day" | "range",
    readonly eventId: string,
    message: string,
    cause?: unknown,
  ) {
    super("AMOUNT_LIMIT", `event ${eventId}: ${message}`, cause);
  }
}

export { entryIdOf };

export const campaignEventIdOf = (sourceEventId: string, ruleId: string, memberId: string) =>
  stableId("cmp", [sourceEventId, ruleId, memberId]);

export function eventIdOf(e: EngineEvent): string {
  return e.event.eventId;
}

export function memberIdOf(e: EngineEvent): string {
  return e.event.memberId;
}

/** Members whose rows an event touches (its member, and a referrer). */
export function membersOf(e: EngineEvent): string[] {
  if (e.kind === "member" && e.event.type === "ENROLLED" && e.event.referrerMemberId)
    return [e.event.memberId, e.event.referrerMemberId];
  return [e.event.memberId];
}

export function birthdayMonth(birthday: string | null): number | null {
  if (birthday === null) return null;
  const m = /^(?:\d{4}|-)-(\d{2})-\d{2}$/.exec(birthday);
  if (!m) return null;
  const month = Number(m[1]);
  return month >= 1 && month <= 12 ? month : null;
}

const dayOffsets = new Map<string, number>();

/**
 * The programme-local calendar day (YYYY-MM-DD) of an instant: the per-day cap's key. Zone
 * offsets are memoised per 15-minute UTC bucket (offsets never change inside one).
 */
export function programmeDay(t: number, timeZone: string): string {
  const key = `${timeZone} ${Math.floor(t / 900_000)}`;
  let offset = dayOffsets.get(key);
  if (offset === undefined) {
    offset = zoneOffsetMs(Math.floor(t / 900_000) * 900_000, timeZone);
    if (dayOffsets.size > 100_000) dayOffsets.clear();
    dayOffsets.set(key, offset);
  }
  return new Date(t + offset).toISOString().slice(0, 10);
}

/** Tier names of the tier policy ("Gold") are matched case-insensitively by rules ("gold"). */
export const tierFact = (tier: string): string => tier.toLowerCase();

export class BatchProcessor {
  // Changes, in the order they were made.
  readonly entries: EntryRow[] = [];
  readonly movements: LotMovement[] = [];
  readonly newLots: LotRow[] = [];
  /**
   * Expiry entries. Each is an output of the input event it preceded (or, for a punctuation, the
   * batch's last event): `detail.trigger` names it, so a redelivered event emits them again.
   */
  readonly expiries: EntryRow[] = [];
  readonly campaigns: CampaignRow[] = [];
  readonly priced: PricedEvent[] = [];
  readonly dirtyMembers = new Set<string>();
  readonly dirtyBalances = new Set<string>();
  readonly dirtyLots = new Set<string>();
  readonly dirtyOrders = new Set<string>();
  readonly usageDelta = new Map<string, number>();
  readonly budgetDelta = new Map<string, number>();
  /** Budgeted rules this batch consumed or was denied by: their rows must be locked. */
  readonly budgetTouched = new Set<string>();
  /** Ledger commands decided by this batch (new rows of rules_ledger_commands). */
  readonly commands: StoredCommand[] = [];
  /** The reply to each command record, by its event id (duplicates included). */
  readonly replies = new Map<string, LedgerReply>();
  /** Entry ids and campaign rows per source event id, for the outputs. */
  readonly bySource = new Map<string, { entries: EntryRow[]; campaigns: CampaignRow[] }>();

  /**
   * Lots by id, for the lots a command moves. Built at the first command from the loaded lots
   * (the lists in state.lots never drop a lot), then kept up to date: a batch of purchases alone,
   * most of a replay, never indexes the lots of every task's members.
   */
  private lotIndex: Map<string, LotRow> | null = null;
  /** Open lots by expiry (due-lots.ts), built at the first punctuation; new lots join it. */
  private due: DueLots | null = null;
  private readonly usageCache = new WeakMap<CompiledRuleSet, { day: string[]; campaign: string[] }>();

  constructor(
    readonly state: LoadedState,
    private readonly registry: RuleSetRegistry,
    private readonly opts: EngineOptions,
    private readonly onEvaluation?: (
      memberId: string,
      referrerId: string | undefined,
      ev: Evaluation,
    ) => void,
  ) {}

  private lotById(lotId: string): LotRow | undefined {
    if (this.lotIndex === null) {
      this.lotIndex = new Map();
      for (const lots of this.state.lots.values()) for (const l of lots) this.lotIndex.set(l.lotId, l);
    }
    return this.lotIndex.get(lotId);
  }

  /**
   * Processes the events in order. With `stream`, each event is followed by a punctuation at
   * the stream time after it (the highest event time so far, from `stream.from`, restored from
   * the previous batch; or `stream.wallTime` in wall mode): the due lots of the members it
   * `owns` expire, as outputs of that event. Punctuating after every record, not after a batch,
   * makes the ledger independent of where batches are cut (a crash, a restart, a fetch size).
   */
  run(events: readonly EngineEvent[], stream: StreamPunctuation | null = null): void {
    let t = stream?.from ?? Number.NEGATIVE_INFINITY;
    for (const e of events) {
      if (e.kind === "command") {
        // At the task's stream time, after the punctuation at that time; before any purchase
        // (no stream time yet), at the time it was requested.
        const at = stream?.wallTime ?? (Number.isFinite(t) ? t : e.command.requestedAt);
        this.command(e, at);
        continue;
      }
      this.process(e);
      // Only purchases move the stream time and punctuate (member changes and churn alerts are
      // side inputs of the task whose times may run ahead of its purchases).
      if (stream === null || e.kind !== "purchase") continue;
      t = stream.wallTime ?? Math.max(t, e.event.eventTime);
      this.punctuate(t, eventIdOf(e), stream.owns);
    }
  }

  process(e: EngineEvent): void {
    try {
      this.dispatch(e);
    } catch (err) {
      if (err instanceof AmountOutOfRangeError)
        throw new AmountLimitError("range", e.event.eventId, err.message, err);
      throw err;
    }
  }

  private dispatch(e: EngineEvent): void {
    switch (e.kind) {
      case "purchase":
        if (e.event.type === "PURCHASE") this.purchase(e.event);
        else this.refund(e.event);
        return;
      case "member":
        this.memberChanged(e.event);
        return;
      case "churn":
        this.churn(e.event);
        return;
      case "command":
        this.command(e, e.command.requestedAt);
        return;
    }
  }

  // -- rows ------------------------------------------------------------------------------

  private member(id: string): MemberRow {
    let m = this.state.members.get(id);
    if (m === undefined) {
      m = emptyMember(id);
      this.state.members.set(id, m);
    }
    return m;
  }

  private balance(id: string): BalanceRow {
    let b = this.state.balances.get(id);
    if (b === undefined) {
      b = emptyBalance(id);
      this.state.balances.set(id, b);
    }
    this.dirtyBalances.add(id);
    return b;
  }

  private lotsOf(memberId: string): LotRow[] {
    let lots = this.state.lots.get(memberId);
    if (lots === undefined) {
      lots = [];
      this.state.lots.set(memberId, lots);
    }
    return lots;
  }

  /**
   * Expires the member's lots due at or before `t` before anything changes the balance at `t`,
   * so expiries and the member's events take effect in event-time order. The store loads every
   * open lot due by the batch's stream time. `trigger` is the input event whose outputs the
   * entries belong to (they are published with them, before its own entries).
   */
  private expireDue(memberId: string, t: number, trigger: string): void {
    const due = (this.state.lots.get(memberId) ?? [])
      .filter((l) => l.remaining > 0 && l.expiresAt <= t)
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0));
    if (due.length === 0) return;
    const bal = this.balance(memberId);
    for (const lot of due) {
      const n = this.state.expiryCounts.get(lot.lotId) ?? 0;
      this.state.expiryCounts.set(lot.lotId, n + 1);
      const source = expirySourceOf(lot.lotId, n);
      const entryId = entryIdOf(source, null, "expire", memberId);
      const points = lot.remaining;
      lot.remaining = 0;
      bal.balance -= points;
      this.state.lotsExpired.set(lot.lotId, (this.state.lotsExpired.get(lot.lotId) ?? 0) + points);
      this.dirtyLots.add(lot.lotId);
      this.movements.push({ entryId, lotId: lot.lotId, points: -points });
      const entry: EntryRow = {
        entryId,
        memberId,
        kind: "expire",
        points: -points,
        balanceAfter: bal.balance,
        ruleId: null,
        ruleVersion: null,
        ruleSetId: null,
        ruleSetVersion: null,
        sourceEventId: source,
        orderId: null,
        reason: "expired",
        // The lot's own expiry; a reopened lot's next expiry when it is noticed.
        eventTime: n === 0 ? lot.expiresAt : t,
        detail: { lotId: lot.lotId, expiry: n, trigger },
        lotExpiresAt: lot.expiresAt,
      };
      this.entries.push(entry);
      this.expiries.push(entry);
      this.outputsOf(trigger).entries.push(entry);
    }
  }

  /**
   * Punctuation at stream time `t` (ADR 13, ADR 16): expires the due lots of every loaded member
   * it `owns`, members with no movement included, as outputs of `trigger`.
   */
  punctuate(t: number, trigger: string, owns: (memberId: string) => boolean = () => true): void {
    this.due ??= new DueLots([...this.state.lots.values()].flat());
    // Due lots of members another partition owns wait for that partition's punctuation.
    for (const lot of this.due.takeDue(t, owns))
      if (lot.remaining > 0) this.expireDue(lot.memberId, t, trigger);
  }

  private tierState(m: MemberRow): TierState {
    return m.tierState ?? initialState(m.memberId, this.opts.tierConfig);
  }

  /** The tier the member held at `t`, the member's own tier state advanced to t (not persisted). */
  private pricingTier(m: MemberRow, t: number): { tier: string; advanced: TierState } {
    const advanced = advanceTo(this.tierState(m), t, this.opts.tierConfig).state;
    return { tier: tierAt(advanced, t) ?? advanced.tier, advanced };
  }

  private memberInput(m: MemberRow, tier: string, t: number): MemberInput {
    const churn = churnFactsAt(m, t);
    return {
      memberId: m.memberId,
      tier: tierFact(tier),
      segment: churn.segment,
      enrolledAt: new Date(m.enrolledAt ?? t).toISOString(),
      birthdayMonth: birthdayMonth(m.birthday),
      orderCount: m.orderCount,
      lifetimeSpendMinor: m.lifetimeSpendMinor,
      lastPurchaseAt: m.lastPurchaseAt === null ? null : new Date(m.lastPurchaseAt).toISOString(),
      atRisk: churn.atRisk,
      counters: m.counters,
    };
  }

  private version(t: number): PublishedVersion {
    const v = this.registry.at(t);
    if (v === undefined) throw new Error("no rule set published");
    return v;
  }

  private usageFor(compiled: CompiledRuleSet, memberId: string, day: string): MemberUsage {
    let capped = this.usageCache.get(compiled);
    if (capped === undefined) {
      capped = {
        day: compiled.rules.filter((r) => r.capPerDay !== null).map((r) => r.id),
        campaign: compiled.rules.filter((r) => r.capPerCampaign !== null).map((r) => r.id),
      };
      this.usageCache.set(compiled, capped);
    }
    const dayUse: Record<string, number> = {};
    const campaignUse: Record<string, number> = {};
    for (const id of capped.day) dayUse[id] = this.usage(usageKey(memberId, id, "day", day));
    for (const id of capped.campaign) campaignUse[id] = this.usage(usageKey(memberId, id, "campaign", ""));
    return { day: dayUse, campaign: campaignUse };
  }

  private usage(key: string): number {
    return (this.state.usage.get(key) ?? 0) + (this.usageDelta.get(key) ?? 0);
  }

  private snapshot(
    compiled: CompiledRuleSet,
    memberId: string,
    referrerId: string | null,
    day: string,
  ): UsageSnapshot {
    const budgetUsed: Record<string, number> = {};
    for (const r of compiled.rules) {
      if (r.budgetPoints === null) continue;
      budgetUsed[r.id] = (this.state.budgets.get(r.id) ?? 0) + (this.budgetDelta.get(r.id) ?? 0);
    }
    const snap: UsageSnapshot = { budgetUsed, member: this.usageFor(compiled, memberId, day) };
    if (referrerId !== null) snap.referrer = this.usageFor(compiled, referrerId, day);
    return snap;
  }

  private outputsOf(sourceEventId: string) {
    let o = this.bySource.get(sourceEventId);
    if (o === undefined) {
      o = { entries: [], campaigns: [] };
      this.bySource.set(sourceEventId, o);
    }
    return o;
  }

  // -- evaluation results ------------------------------------------------------------------

  /** Applies an evaluation's awards, campaigns and limit consumption; returns the awards' entry ids. */
  private settle(
    ev: Evaluation,
    pv: PublishedVersion,
    src: { eventId: string; orderId: string | null; t: number; memberId: string; referrerId: string | null },
    day: string,
  ): StoredAward[] {
    this.checkAmountLimits(ev, src, day);
    this.onEvaluation?.(src.memberId, src.referrerId ?? undefined, ev);
    for (const d of ev.denied) if (d.reason === "budget") this.budgetTouched.add(d.ruleId);
    for (const c of ev.consumption) {
      const who = c.recipient === "referrer" ? src.referrerId : src.memberId;
      if (who === null) continue;
      if (c.limit === "budget") {
        this.budgetTouched.add(c.ruleId);
        this.budgetDelta.set(c.ruleId, (this.budgetDelta.get(c.ruleId) ?? 0) + c.points);
      } else {
        const key =
          c.limit === "member-day"
            ? usageKey(who, c.ruleId, "day", day)
            : usageKey(who, c.ruleId, "campaign", "");
        this.usageDelta.set(key, (this.usageDelta.get(key) ?? 0) + c.points);
      }
    }
    const stored: StoredAward[] = [];
    for (const a of ev.awards) {
      const who = a.recipient === "referrer" ? src.referrerId : src.memberId;
      if (who === null) continue;
      stored.push({ ...this.earn(who, a, pv, src), reversedPoints: 0 });
    }
    for (const c of ev.campaigns) this.campaign(src.memberId, c, pv, src);
    return stored;
  }

  /**
   * Refuses (AmountLimitError) an evaluation with an award over maxPointsPerEntry or that would
   * take a member past maxPointsPerMemberPerDay on the event's programme day; otherwise counts
   * its awards into each member's day total.
   */
  private checkAmountLimits(
    ev: Evaluation,
    src: { eventId: string; memberId: string; referrerId: string | null },
    day: string,
  ): void {
    if (ev.awards.length === 0) return;
    const limits = amountLimitsOf(this.opts.programme);
    const perMember = new Map<string, number>();
    for (const a of ev.awards) {
      const who = a.recipient === "referrer" ? src.referrerId : src.memberId;
      if (who === null) continue;
      if (a.points > limits.maxPointsPerEntry)
        throw new AmountLimitError(
          "entry",
          src.eventId,
          `award of ${a.points} points by rule ${a.ruleId} to ${who} exceeds maxPointsPerEntry ${limits.maxPointsPerEntry}`,
        );
      perMember.set(who, addPoints(perMember.get(who) ?? 0, a.points, `points of ${who} on ${day}`));
    }
    for (const [who, points] of perMember) {
      const key = usageKey(who, PROGRAMME_DAY_USAGE, "day", day);
      const before = this.usage(key);
      const after = addPoints(before, points, `points of ${who} on ${day}`);
      if (after > limits.maxPointsPerMemberPerDay)
        throw new AmountLimitError(
          "member-day",
          src.eventId,
          `${points} points would take ${who} to ${after} on ${day}, over maxPointsPerMemberPerDay ${limits.maxPointsPerMemberPerDay}`,
        );
    }
    for (const [who, points] of perMember) {
      const key = usageKey(who, PROGRAMME_DAY_USAGE, "day", day);
      this.usageDelta.set(key, (this.usageDelta.get(key) ?? 0) + points);
    }
  }

  private earn(
    memberId: string,
    a: Award,
    pv: PublishedVersion,
    src: { eventId: string; orderId: string | null; t: number },
  ): Omit<StoredAward, "reversedPoints"> {
    this.expireDue(memberId, src.t, src.eventId);
    const entryId = entryIdOf(src.eventId, a.ruleId, "earn", memberId);
    const bal = this.balance(memberId);
    bal.balance += a.points;
    const expiresAt = addMonthsUtc(src.t, this.opts.expiryMonths);
    const lot: LotRow = {
      lotId: entryId,
      memberId,
      points: a.points,
      remaining: a.points,
      earnedAt: src.t,
      expiresAt,
    };
    this.lotsOf(memberId).push(lot);
    this.lotIndex?.set(lot.lotId, lot);
    this.due?.add(lot);
    // No movement for the earn itself: the lot row is it (remaining = points + movements).
    this.newLots.push(lot);
    const entry: EntryRow = {
      entryId,
      memberId,
      kind: "earn",
      points: a.points,
      balanceAfter: bal.balance,
      ruleId: a.ruleId,
      ruleVersion: a.ruleVersion,
      ruleSetId: pv.ruleSetId,
      ruleSetVersion: pv.version,
      sourceEventId: src.eventId,
      orderId: src.orderId,
      reason: null,
      eventTime: src.t,
      detail: {
        awardKind: a.kind,
        recipient: a.recipient,
        requestedPoints: a.requestedPoints,
        trimmedBy: a.trimmedBy,
        pricing: a.pricing,
      },
      lotExpiresAt: expiresAt,
    };
    this.entries.push(entry);
    this.outputsOf(src.eventId).entries.push(entry);
    return {
      entryId,
      ruleId: a.ruleId,
      ruleVersion: a.ruleVersion,
      kind: a.kind,
      recipient: a.recipient,
      points: a.points,
      pricing: a.pricing,
    };
  }

  private campaign(
    memberId: string,
    c: CampaignTrigger,
    pv: PublishedVersion,
    src: { eventId: string; t: number },
  ) {
    const row: CampaignRow = {
      eventId: campaignEventIdOf(src.eventId, c.ruleId, memberId),
      memberId,
      campaignId: c.campaignId,
      ruleId: c.ruleId,
      ruleVersion: c.ruleVersion,
      ruleSetVersion: pv.version,
      sourceEventId: src.eventId,
      eventTime: src.t,
      rewardJson: JSON.stringify(c.reward),
    };
    this.campaigns.push(row);
    this.outputsOf(src.eventId).campaigns.push(row);
    const m = this.member(memberId);
    const counter = m.counters[c.campaignId] ?? { memberCount: 0, memberPoints: 0 };
    m.counters = { ...m.counters, [c.campaignId]: { ...counter, memberCount: counter.memberCount + 1 } };
    this.dirtyMembers.add(memberId);
  }

  /**
   * Reverses `claimed` points of an award. Points of the award's lot that expired count against
   * the claim first: the member lost them once already (ADR 14). The rest comes from the lot the
   * award created, then from the member's other open lots, soonest expiring first. Without
   * ALLOW_NEGATIVE_BALANCE only what the balance holds is reversed and the rest is recorded as
   * shortfall.
   */
  private reverse(
    memberId: string,
    award: StoredAward,
    claimed: number,
    src: { eventId: string; orderId: string; t: number; pv: { id: string; version: number } },
  ) {
    if (!this.state.lotsLoadedFor.has(memberId)) throw new Error(`lots of ${memberId} were not loaded`);
    this.expireDue(memberId, src.t, src.eventId);
    const entryId = entryIdOf(src.eventId, award.ruleId, "reverse", memberId);
    const bal = this.balance(memberId);
    const lots = this.lotsOf(memberId).filter((l) => l.remaining > 0);
    const own = lots.filter((l) => l.lotId === award.entryId);
    const others = lots
      .filter((l) => l.lotId !== award.entryId)
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0));
    const available = lots.reduce((s, l) => s + l.remaining, 0);
    const expired = Math.min(
      claimed,
      Math.max(0, (this.state.lotsExpired.get(award.entryId) ?? 0) - (award.expiredCredited ?? 0)),
    );
    if (expired > 0) award.expiredCredited = (award.expiredCredited ?? 0) + expired;
    const owed = claimed - expired;
    let reversed: number;
    let fromLots: number;
    if (this.opts.allowNegativeBalance) {
      reversed = owed;
      fromLots = Math.min(owed, available);
      bal.debt += owed - fromLots;
    } else {
      reversed = Math.min(owed, available, Math.max(0, bal.balance));
      fromLots = reversed;
    }
    let left = fromLots;
    for (const lot of [...own, ...others]) {
      if (left === 0) break;
      const take = Math.min(left, lot.remaining);
      lot.remaining -= take;
      left -= take;
      this.dirtyLots.add(lot.lotId);
      this.movements.push({ entryId, lotId: lot.lotId, points: -take });
    }
    const shortfall = owed - reversed;
    bal.shortfall += shortfall;
    bal.balance -= reversed;
    award.reversedPoints += claimed;
    const entry: EntryRow = {
      entryId,
      memberId,
      kind: "reverse",
      points: reversed === 0 ? 0 : -reversed,
      balanceAfter: bal.balance,
      ruleId: award.ruleId,
      ruleVersion: award.ruleVersion,
      ruleSetId: src.pv.id,
      ruleSetVersion: src.pv.version,
      sourceEventId: src.eventId,
      orderId: src.orderId,
      reason:
        shortfall > 0
          ? "clawback-shortfall"
          : reversed === 0 && expired > 0
            ? "clawback-expired"
            : "clawback",
      eventTime: src.t,
      detail: { awardEntryId: award.entryId, claimed, expired, shortfall },
      lotExpiresAt: null,
    };
    this.entries.push(entry);
    this.outputsOf(src.eventId).entries.push(entry);
  }

  private priceEvent(
    eventId: string,
    memberId: string,
    kind: string,
    ruleSetId: string,
    version: number,
    t: number,
  ) {
    this.priced.push({
      eventId,
      memberId,
      eventKind: kind,
      ruleSetId,
      ruleSetVersion: version,
      eventTime: t,
    });
  }

  // -- events -------------------------------------------------------------------------------

  private purchase(e: PurchaseEvent): void {
    const t = e.eventTime;
    const pv = this.version(t);
    const m = this.member(e.memberId);
    this.dirtyMembers.add(m.memberId);
    this.priceEvent(e.eventId, m.memberId, "purchase", pv.ruleSetId, pv.version, t);
    const key = orderKeyOf(e.source, e.orderId);
    // An order earns once: a later revision of the same order is not a second purchase.
    if (this.state.orders.has(key)) return;

    // Price at the tier held just before this order, then apply it to the tier policy.
    const { tier, advanced } = this.pricingTier(m, t);
    const day = programmeDay(t, this.opts.programme.timeZone);
    const facts = buildOrderFacts(
      {
        orderId: e.orderId,
        placedAt: t,
        currency: e.currency,
        amountMinor: e.amountMinor,
        baseAmountMinor: e.baseAmountMinor,
        channel: e.channel ?? "unknown",
        storeId: e.storeId,
        lines: e.lines.map((l) => ({
          sku: l.sku,
          category: l.category ?? "uncategorised",
          quantity: l.quantity,
          unitPriceMinor: l.unitPriceMinor,
        })),
      },
      this.memberInput(m, tier, t),
      this.opts.programme,
    );
    const ev = evaluate(
      pv.compiled,
      "order.placed",
      facts,
      t,
      this.snapshot(pv.compiled, m.memberId, null, day),
    );
    const awards = this.settle(
      ev,
      pv,
      { eventId: e.eventId, orderId: e.orderId, t, memberId: m.memberId, referrerId: null },
      day,
    );
    this.state.orders.set(key, {
      orderKey: key,
      memberId: m.memberId,
      purchaseEventId: e.eventId,
      eventTime: t,
      amountMinor: e.amountMinor,
      baseAmountMinor: e.baseAmountMinor,
      ruleSetId: pv.ruleSetId,
      ruleSetVersion: pv.version,
      refundedBaseMinor: 0,
      awards,
    });
    this.dirtyOrders.add(key);

    m.tierState = apply(
      advanced,
      { kind: "purchase", eventId: e.eventId, eventTime: t, value: e.baseAmountMinor },
      this.opts.tierConfig,
    ).state;
    m.orderCount += 1;
    m.lifetimeSpendMinor += e.baseAmountMinor;
    m.lastPurchaseAt = m.lastPurchaseAt === null ? t : Math.max(m.lastPurchaseAt, t);
    m.enrolledAt ??= t;
    // The purchase the win-back waited for has happened.
    answerRiskAlerts(m, t);
  }

  private refund(e: PurchaseEvent): void {
    const t = e.eventTime;
    const m = this.member(e.memberId);
    this.dirtyMembers.add(m.memberId);
    const order = this.state.orders.get(orderKeyOf(e.source, e.orderId));
    if (order === undefined) {
      // Nothing was earned on an order the engine never saw; nothing to claw back.
      const pv = this.version(t);
      this.priceEvent(e.eventId, m.memberId, e.type.toLowerCase(), pv.ruleSetId, pv.version, t);
      return;
    }
    // A refund is priced by the terms the order earned under, whatever the rules say now.
    this.priceEvent(e.eventId, m.memberId, e.type.toLowerCase(), order.ruleSetId, order.ruleSetVersion, t);
    const result = clawback({
      order: { baseAmountMinor: order.baseAmountMinor, amountMinor: order.amountMinor },
      awards: order.awards,
      previous: { refundedBaseMinor: order.refundedBaseMinor },
      refund:
        e.type === "CANCELLATION" ? { kind: "full" } : { kind: "amount", baseAmountMinor: e.baseAmountMinor },
    });
    const src = {
      eventId: e.eventId,
      orderId: e.orderId,
      t,
      pv: { id: order.ruleSetId, version: order.ruleSetVersion },
    };
    for (const r of result.reversals) {
      const award = order.awards[r.awardIndex];
      if (award === undefined) continue;
      this.reverse(order.memberId, award, r.points, src);
    }
    order.refundedBaseMinor = result.state.refundedBaseMinor;
    this.dirtyOrders.add(order.orderKey);

    const cancelled = e.type === "CANCELLATION";
    if (result.refundBaseMinor > 0 || cancelled) {
      m.tierState = apply(
        this.tierState(m),
        {
          kind: cancelled ? "cancellation" : "refund",
          eventId: e.eventId,
          eventTime: t,
          value: result.refundBaseMinor,
          reversesEventTime: order.eventTime,
        },
        this.opts.tierConfig,
      ).state;
    }
    m.lifetimeSpendMinor = Math.max(0, m.lifetimeSpendMinor - result.refundBaseMinor);
    if (cancelled) m.orderCount = Math.max(0, m.orderCount - 1);
  }

  private memberEvent(
    trigger: Trigger,
    pv: PublishedVersion,
    m: MemberRow,
    t: number,
    eventId: string,
    extra: Parameters<typeof buildMemberEventFacts>[3],
    referrerId: string | null,
  ): void {
    if (!pv.compiled.byTrigger.has(trigger)) return;
    const { tier } = this.pricingTier(m, t);
    const day = programmeDay(t, this.opts.programme.timeZone);
    const facts = buildMemberEventFacts(this.memberInput(m, tier, t), this.opts.programme, t, extra);
    const ev = evaluate(
      pv.compiled,
      trigger,
      facts,
      t,
      this.snapshot(pv.compiled, m.memberId, referrerId, day),
    );
    this.settle(ev, pv, { eventId, orderId: null, t, memberId: m.memberId, referrerId }, day);
  }

  private memberChanged(e: MemberChanged): void {
    const t = e.eventTime;
    const pv = this.version(t);
    const m = this.member(e.memberId);
    this.dirtyMembers.add(m.memberId);
    this.priceEvent(e.eventId, m.memberId, `member-${e.type.toLowerCase()}`, pv.ruleSetId, pv.version, t);
    if (e.birthday !== null) m.birthday = e.birthday;
    if (e.type !== "ENROLLED") return;
    const first = m.enrolmentEventId === null;
    m.enrolmentEventId ??= e.eventId;
    m.enrolledAt = m.enrolledAt === null ? t : Math.min(m.enrolledAt, t);
    const referrer =
      e.referrerMemberId !== null && e.referrerMemberId !== m.memberId ? e.referrerMemberId : null;
    if (referrer !== null && m.referrerMemberId === null) m.referrerMemberId = referrer;
    // Registration and referral pay once per member, on the first enrolment the engine sees.
    if (!first) return;
    this.memberEvent("member.registered", pv, m, t, e.eventId, {}, null);
    if (referrer !== null) {
      // Read only: the referrer's row belongs to its own partition's stream.
      const r = this.member(referrer);
      const referrerTier = this.pricingTier(r, t).tier;
      this.memberEvent(
        "member.referred",
        pv,
        m,
        t,
        e.eventId,
        { referral: { referrerTier: tierFact(referrerTier) } },
        referrer,
      );
    }
  }

  /**
   * A ledger command at time `t` (engine/commands.ts decides): the member's due lots expire
   * first, then the effect is applied to the rows, and the reply recorded. A command id seen
   * before answers its recorded reply and changes nothing.
   */
  private command(e: Extract<EngineEvent, { kind: "command" }>, t: number): void {
    const cmd = e.command;
    const recordId = e.event.eventId;
    const prior = this.state.commands.get(cmd.commandId);
    if (prior !== undefined) {
      this.replies.set(recordId, prior.reply);
      return;
    }
    const memberId = cmd.memberId;
    const known = this.state.members.has(memberId) || this.state.balances.has(memberId);
    let view: CommandView = {
      known: false,
      balance: 0,
      debt: 0,
      lots: [],
      redemption: null,
      cancellation: null,
    };
    if (known) {
      if (!this.state.lotsLoadedFor.has(memberId)) throw new Error(`lots of ${memberId} were not loaded`);
      this.expireDue(memberId, t, recordId);
      const bal = this.balance(memberId);
      const red = cmd.redemptionId === null ? undefined : this.state.commands.get(cmd.redemptionId);
      view = {
        known: true,
        balance: bal.balance,
        debt: bal.debt,
        lots: this.lotsOf(memberId),
        redemption: cmd.type === "CANCEL_REDEMPTION" && red?.type === "REDEEM" ? red : null,
        cancellation:
          cmd.type === "CANCEL_REDEMPTION" && cmd.redemptionId !== null
            ? (this.state.cancellations.get(cmd.redemptionId) ?? null)
            : null,
      };
    }
    const effect = decideCommand(cmd, view, t, this.opts.expiryMonths);
    const stored: StoredCommand = {
      commandId: cmd.commandId,
      memberId,
      type: cmd.type,
      redemptionId: cmd.redemptionId,
      orderId: cmd.orderId,
      reply: effect.reply,
    };
    if (effect.kind === "apply") {
      const x = effect.entry;
      const bal = this.balance(memberId);
      for (const m of effect.moves) {
        const lot = this.lotById(m.lotId);
        if (lot === undefined) throw new Error(`lot ${m.lotId} of ${memberId} was not loaded`);
        const wasEmpty = lot.remaining === 0;
        lot.remaining += m.points;
        this.dirtyLots.add(lot.lotId);
        this.movements.push({ entryId: x.entryId, lotId: lot.lotId, points: m.points });
        if (wasEmpty && lot.remaining > 0) {
          if (!this.lotsOf(memberId).includes(lot)) this.lotsOf(memberId).push(lot);
          this.due?.add(lot);
        }
      }
      if (effect.newLot !== null) {
        const lot: LotRow = {
          lotId: effect.newLot.lotId,
          memberId,
          points: effect.newLot.points,
          remaining: effect.newLot.points,
          earnedAt: t,
          expiresAt: effect.newLot.expiresAt,
        };
        this.lotsOf(memberId).push(lot);
        this.lotIndex?.set(lot.lotId, lot);
        this.due?.add(lot);
        this.newLots.push(lot);
      }
      bal.balance = effect.balanceAfter;
      bal.debt = effect.debtAfter;
      const entry: EntryRow = {
        entryId: x.entryId,
        memberId,
        kind: x.kind,
        points: x.points,
        balanceAfter: bal.balance,
        ruleId: null,
        ruleVersion: null,
        ruleSetId: null,
        ruleSetVersion: null,
        sourceEventId: x.sourceEventId,
        orderId: x.orderId,
        reason: x.reason,
        eventTime: t,
        detail: { ...x.detail, commandId: cmd.commandId },
        lotExpiresAt: effect.newLot?.expiresAt ?? null,
      };
      this.entries.push(entry);
      this.outputsOf(recordId).entries.push(entry);
      if (cmd.type === "CANCEL_REDEMPTION" && cmd.redemptionId !== null) {
        this.state.cancellations.set(cmd.redemptionId, stored);
        // Points put back into a lot that has expired since expire again now.
        this.expireDue(memberId, t, recordId);
      }
    }
    this.state.commands.set(cmd.commandId, stored);
    this.commands.push(stored);
    this.replies.set(recordId, effect.reply);
  }

  private churn(e: ChurnAlert): void {
    const t = e.eventTime;
    const pv = this.version(t);
    const m = this.member(e.memberId);
    this.dirtyMembers.add(m.memberId);
    this.priceEvent(e.eventId, m.memberId, "churn-alert", pv.ruleSetId, pv.version, t);
    // Applied as of its own time: a purchase before it (read later) does not see it.
    addRiskAlert(m, { at: t, segment: e.segment });
    // The churn model gives P(alive); the rules see a 0-100 risk score.
    const score = Math.min(100, Math.max(0, Math.round((1 - e.pAlive) * 100)));
    this.memberEvent("churn.alerted", pv, m, t, e.eventId, { churn: { score, reason: e.reason } }, null);
  }
}

import type { LedgerReply } from "@loyalty/contracts";
import { type PoolClient, copyRows, copyUpsert, prepared } from "@loyalty/db";
import { TransientError } from "@loyalty/stream-runtime";
import type { TierState } from "@loyalty/tiers";
import { type StoredCommand, lotsOf } from "../engine/commands.ts";
import {
  type BalanceRow,
  type CampaignRow,
  type EntryRow,
  type LotRow,
  type MemberRow,
  type OrderRow,
  type RiskAlert,
  attachLots,
  orderKeyOf,
  splitUsageKey,
  usageKey,
} from "../engine/model.ts";
import {
  AmountLimitError,
  BatchProcessor,
  type EngineEvent,
  type EngineOptions,
  type LoadedState,
  type StreamPunctuation,
  eventIdOf,
  membersOf,
  programmeDay,
} from "../engine/process.ts";
import type { RuleSetRegistry } from "../engine/registry.ts";

// PostgreSQL side of a batch: one transaction that loads (and locks) the rows the batch
// needs with `= any($1)`, runs the pure processor, and writes everything back in bulk with
// unnest. Budget rows are locked only when the batch actually touches a budgeted rule.

export interface BatchOutputs {
  /** Per input event id, in the order the events came: entries and campaign triggers. */
  bySource: Map<string, { entries: EntryRow[]; campaigns: CampaignRow[] }>;
  fresh: number;
  replayed: number;
  /** The fresh events' outputs alone: written by this transaction, so counted once (metrics). */
  written: { entries: EntryRow[]; campaigns: CampaignRow[] };
  /** Events left out because their awards break the amount limits: their records go to the DLQ. */
  rejected: AmountLimitError[];
  /** The reply to each ledger command record, by its event id (loyalty.ledger-replies.v1). */
  replies: Map<string, LedgerReply>;
}

/** One task's events of a batch and its punctuation (null: none). */
export interface TaskEvents {
  events: readonly EngineEvent[];
  stream: StreamPunctuation | null;
}

/** What a punctuation may expire: lots due by `time` of the members it `owns`. */
interface DueAt {
  time: number;
  owns: (memberId: string) => boolean;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

export class LedgerStore {
  /** Per loaded state, the order keys that have a row already (the rest are new: COPY). */
  private readonly storedOrders = new WeakMap<LoadedState, ReadonlySet<string>>();

  constructor(
    private readonly registry: RuleSetRegistry,
    private readonly opts: EngineOptions,
  ) {}

  /**
   * Applies the events of a batch's tasks in the runtime's transaction `c` (ADR 16): loads the
   * rows they all need in one set of statements, prices each task's events in order (one
   * processor per task over the shared rows), and writes every change set-based, once per table
   * for the whole batch. With `stream`, each purchase of a task is followed by a punctuation at
   * its stream time (from `stream.from`, the task's stream time before the batch; wall mode:
   * `stream.wallTime`): the due lots of the members the task `owns` expire, as outputs of that
   * purchase. An event id applied before (an upstream duplicate) is skipped: a redelivery after
   * a crash cannot happen, the task's offsets are stored with the ledger.
   */
  async applyIn(c: PoolClient, parts: readonly TaskEvents[]): Promise<BatchOutputs> {
    // Ledger commands are deduplicated by command id (rules_ledger_commands), in the processor:
    // a duplicate is answered again, so it is not dropped here.
    const ids = [
      ...new Set(parts.flatMap((part) => part.events.filter((e) => e.kind !== "command").map(eventIdOf))),
    ];
    // A batch of commands only (the API's redemptions) has no event to look up.
    const seenRows =
      ids.length === 0
        ? []
        : (
            await c.query<{ event_id: string }>(
              prepared("select event_id from rules_priced_events where event_id = any($1)"),
              [ids],
            )
          ).rows;
    const seen = new Set(seenRows.map((r) => r.event_id));
    // Fresh events, each once (an id twice in a batch is one event delivered twice).
    const taken = new Set<string>();
    let fresh: TaskEvents[] = parts.map((part) => ({
      stream: part.stream,
      events: part.events.filter((e) => {
        if (e.kind === "command") return true;
        const id = eventIdOf(e);
        if (seen.has(id) || taken.has(id)) return false;
        taken.add(id);
        return true;
      }),
    }));
    const bySource = new Map<string, { entries: EntryRow[]; campaigns: CampaignRow[] }>();
    const written: BatchOutputs["written"] = { entries: [], campaigns: [] };
    const rejected: AmountLimitError[] = [];
    const replies = new Map<string, LedgerReply>();
    // An event whose awards break the amount limits is left out (its record dead-lettered by
    // the caller) and the rest priced again without it.
    let ps: BatchProcessor[] | null = null;
    while (ps === null && fresh.some((part) => part.events.length > 0)) {
      try {
        ps = await this.process(c, fresh);
      } catch (err) {
        if (!(err instanceof AmountLimitError)) throw err;
        rejected.push(err);
        fresh = fresh.map((part) => ({
          stream: part.stream,
          events: part.events.filter((e) => eventIdOf(e) !== err.eventId),
        }));
      }
    }
    const applied = fresh.reduce((n, part) => n + part.events.length, 0);
    if (ps === null) return { bySource, fresh: 0, replayed: seen.size, written, rejected, replies };
    await this.write(c, ps);
    for (const p of ps) attachLots(p.entries, p.newLots, p.movements);
    for (const p of ps) {
      for (const [id, o] of p.bySource) {
        bySource.set(id, o);
        written.entries.push(...o.entries);
        written.campaigns.push(...o.campaigns);
      }
      for (const [id, r] of p.replies) replies.set(id, r);
    }
    return { bySource, fresh: applied, replayed: seen.size, written, rejected, replies };
  }

  /**
   * A punctuation with no input (wall mode's timer), in the runtime's transaction: expires the
   * due lots at `time` of the members `owns` accepts, as outputs of `trigger`. Returns the
   * entries, in ledger order.
   */
  async punctuateIn(
    c: PoolClient,
    time: number,
    trigger: string,
    owns: (memberId: string) => boolean,
  ): Promise<EntryRow[]> {
    const loaded = await this.load(c, [], [{ time, owns }]);
    if (loaded.lots.size === 0) return [];
    const p = new BatchProcessor(loaded, this.registry, this.opts);
    p.punctuate(time, trigger, owns);
    await this.write(c, [p]);
    attachLots(p.entries, p.newLots, p.movements);
    return p.entries;
  }

  /** Prices each task's events with its own processor, over rows loaded once for all of them. */
  private async process(c: PoolClient, parts: readonly TaskEvents[]): Promise<BatchProcessor[]> {
    const events = parts.flatMap((part) => part.events);
    const dues: DueAt[] = [];
    for (const { events, stream } of parts) {
      if (stream === null || events.length === 0) continue;
      let time = stream.wallTime ?? stream.from;
      if (stream.wallTime === null)
        for (const e of events) if (e.kind === "purchase") time = Math.max(time, e.event.eventTime);
      // A task that has seen no purchase yet has no stream time: nothing is due.
      if (Number.isFinite(time)) dues.push({ time, owns: stream.owns });
    }
    const loaded = await this.load(c, events, dues);
    // Tasks own disjoint members, but budgets (and a referrer's caps) are shared: what one task
    // used is folded into the rows the next one reads (the deltas are still what is written).
    const runAll = (state: LoadedState) =>
      parts
        .filter((part) => part.events.length > 0)
        .map((part) => {
          const p = new BatchProcessor(state, this.registry, this.opts);
          p.run(part.events, part.stream);
          for (const [k, v] of p.budgetDelta) state.budgets.set(k, (state.budgets.get(k) ?? 0) + v);
          for (const [k, v] of p.usageDelta) state.usage.set(k, (state.usage.get(k) ?? 0) + v);
          return p;
        });
    let ps = runAll(loaded);
    const touched = new Set(ps.flatMap((p) => [...p.budgetTouched]));
    if (touched.size === 0) return ps;
    // Budgets are shared by all instances: lock the touched rows and, if another instance
    // spent from them since the snapshot, run the batch again on the exact figures.
    const rules = [...touched].sort();
    await c.query(
      prepared(
        "insert into rules_budgets (rule_id) select unnest($1::text[]) order by 1 on conflict do nothing",
      ),
      [rules],
    );
    const locked = await c.query<{ rule_id: string; used: number }>(
      prepared("select rule_id, used from rules_budgets where rule_id = any($1) order by rule_id for update"),
      [rules],
    );
    // `loaded.budgets` are the figures read before the lock, plus what this batch used.
    const used = new Map<string, number>();
    for (const p of ps) for (const [k, v] of p.budgetDelta) used.set(k, (used.get(k) ?? 0) + v);
    const changed = locked.rows.some(
      (r) => (loaded.budgets.get(r.rule_id) ?? 0) - (used.get(r.rule_id) ?? 0) !== r.used,
    );
    if (!changed) return ps;
    // Rare (another instance spent meanwhile): read the rows again, as they were before this batch
    // (nothing is written yet and they are locked now), instead of copying every batch's rows up
    // front for this case.
    const pristine = await this.load(c, events, dues);
    for (const r of locked.rows) pristine.budgets.set(r.rule_id, r.used);
    ps = runAll(pristine);
    for (const p of ps)
      for (const id of p.budgetTouched)
        if (!rules.includes(id)) throw new TransientError(`budget of ${id} touched only on the second pass`);
    return ps;
  }

  private async load(c: PoolClient, events: EngineEvent[], dues: readonly DueAt[]): Promise<LoadedState> {
    const commands = events.flatMap((e) => (e.kind === "command" ? [e.command] : []));
    const eventMembers = new Set(events.filter((e) => e.kind !== "command").flatMap(membersOf));
    // A command's member must be known already (no row is created for an unknown one: it is
    // answered MEMBER_NOT_FOUND); every open lot of a known one is loaded (a redemption takes any).
    const commandMembers = [...new Set(commands.map((x) => x.memberId))];
    const known =
      commandMembers.length === 0
        ? []
        : (
            await c.query<{ member_id: string }>(
              prepared(`select member_id from rules_members where member_id = any($1)
               union select member_id from ledger_balances where member_id = any($1)`),
              [commandMembers],
            )
          ).rows.map((r) => r.member_id);
    const memberIds = [...new Set([...eventMembers, ...known])].sort();
    const orderKeys: string[] = [];
    const refundMembers = new Set<string>();
    const refundOrders = new Set<string>();
    const awardLots: string[] = [];
    const days = new Set<string>();
    let lastTime = Number.NEGATIVE_INFINITY;
    for (const d of dues) lastTime = Math.max(lastTime, d.time);
    for (const e of events) {
      // A command's time is the task's stream time (in `dues`), not its requestedAt.
      if (e.kind === "command") continue;
      lastTime = Math.max(lastTime, e.event.eventTime);
      days.add(programmeDay(e.event.eventTime, this.opts.programme.timeZone));
      if (e.kind !== "purchase") continue;
      const key = orderKeyOf(e.event.source, e.event.orderId);
      orderKeys.push(key);
      if (e.event.type === "PURCHASE") continue;
      refundMembers.add(e.event.memberId);
      refundOrders.add(key);
    }
    const state: LoadedState = {
      members: new Map(),
      balances: new Map(),
      lots: new Map(),
      lotsLoadedFor: new Set(refundMembers),
      expiryCounts: new Map(),
      lotsExpired: new Map(),
      orders: new Map(),
      usage: new Map(),
      budgets: new Map(),
      commands: new Map(),
      cancellations: new Map(),
    };
    // Known, or made known by an event of the batch (an enrolment) before the command.
    const loadFor = [...known, ...commandMembers.filter((m) => eventMembers.has(m))];
    for (const m of loadFor) {
      refundMembers.add(m);
      state.lotsLoadedFor.add(m);
    }
    // Commands recorded before: the batch's (duplicates), the redemptions its cancellations name,
    // and accepted cancellations of those.
    const restoreLots: string[] = [];
    if (commands.length > 0) {
      const named = commands.flatMap((x) =>
        x.type === "CANCEL_REDEMPTION" && x.redemptionId ? [x.redemptionId] : [],
      );
      const recorded = await c.query<{
        command_id: string;
        member_id: string;
        type: StoredCommand["type"];
        redemption_id: string | null;
        order_id: string | null;
        reply: LedgerReply;
      }>(
        prepared(`select command_id, member_id, type, redemption_id, order_id, reply from rules_ledger_commands
          where command_id = any($1)
             or (redemption_id = any($2) and type = 'CANCEL_REDEMPTION' and status = 'ACCEPTED')`),
        [[...new Set([...commands.map((x) => x.commandId), ...named])], named],
      );
      for (const r of recorded.rows) {
        const stored: StoredCommand = {
          commandId: r.command_id,
          memberId: r.member_id,
          type: r.type,
          redemptionId: r.redemption_id,
          orderId: r.order_id,
          reply: r.reply,
        };
        state.commands.set(stored.commandId, stored);
        if (stored.type === "CANCEL_REDEMPTION" && stored.reply.status === "ACCEPTED" && stored.redemptionId)
          state.cancellations.set(stored.redemptionId, stored);
      }
      // The lots a redemption being cancelled took from, emptied or not.
      for (const id of named) {
        const red = state.commands.get(id);
        if (red?.type === "REDEEM") for (const l of lotsOf(red.reply)) restoreLots.push(l.lotId);
      }
    }
    // Rows are created first so that every one of them can be locked: an upsert of a row two
    // instances both thought new would lose an update (a referrer is another partition's member).
    // Lock order everywhere: member rows, then balances, then budgets (the API locks balances only).
    await c.query(
      prepared(
        "insert into rules_members (member_id) select unnest($1::text[]) order by 1 on conflict do nothing",
      ),
      [memberIds],
    );
    await c.query(
      prepared(
        "insert into ledger_balances (member_id, balance) select unnest($1::text[]), 0 order by 1 on conflict do nothing",
      ),
      [memberIds],
    );
    const members = await c.query(
      prepared(`select member_id, enrolled_at, enrolment_event_id, birthday, referrer_member_id, segment, risk_alerts,
              order_count, lifetime_spend_minor, last_purchase_at, tier_state, counters
         from rules_members where member_id = any($1) order by member_id for update`),
      [memberIds],
    );
    for (const r of members.rows) {
      const m: MemberRow = {
        memberId: r.member_id,
        enrolledAt: ms(r.enrolled_at),
        enrolmentEventId: r.enrolment_event_id,
        birthday: r.birthday,
        referrerMemberId: r.referrer_member_id,
        segment: r.segment,
        riskAlerts: r.risk_alerts as RiskAlert[],
        orderCount: r.order_count,
        lifetimeSpendMinor: r.lifetime_spend_minor,
        lastPurchaseAt: ms(r.last_purchase_at),
        tierState: r.tier_state as TierState | null,
        counters: r.counters,
      };
      state.members.set(m.memberId, m);
    }
    // The punctuations' members: those of the tasks' partitions with a lot due, movement or not.
    let lockIds = memberIds;
    if (dues.length > 0) {
      const dueRows = await c.query<{ member_id: string }>(
        prepared("select distinct member_id from ledger_lots where remaining > 0 and expires_at <= $1"),
        [iso(lastTime)],
      );
      const idle = dueRows.rows.map((r) => r.member_id).filter((m) => dues.some((d) => d.owns(m)));
      if (idle.length > 0) lockIds = [...new Set([...memberIds, ...idle])].sort();
    }
    const balances = await c.query(
      prepared(
        "select member_id, balance, debt, shortfall from ledger_balances where member_id = any($1) order by member_id for update",
      ),
      [lockIds],
    );
    for (const r of balances.rows)
      state.balances.set(r.member_id, {
        memberId: r.member_id,
        balance: r.balance,
        debt: r.debt,
        shortfall: r.shortfall,
      });
    if (orderKeys.length > 0) {
      const orders = await c.query(
        prepared(`select order_key, member_id, purchase_event_id, event_time, amount_minor, base_amount_minor,
                rule_set_id, rule_set_version, refunded_base_minor, awards
           from rules_orders where order_key = any($1)`),
        [orderKeys],
      );
      for (const r of orders.rows) {
        const o: OrderRow = {
          orderKey: r.order_key,
          memberId: r.member_id,
          purchaseEventId: r.purchase_event_id,
          eventTime: r.event_time.getTime(),
          amountMinor: r.amount_minor,
          baseAmountMinor: r.base_amount_minor,
          ruleSetId: r.rule_set_id,
          ruleSetVersion: r.rule_set_version,
          refundedBaseMinor: r.refunded_base_minor,
          awards: r.awards,
        };
        state.orders.set(o.orderKey, o);
      }
      this.storedOrders.set(state, new Set(state.orders.keys()));
      // The lots of the awards a refund may reverse: what expired from them is not taken again.
      for (const k of refundOrders)
        for (const a of state.orders.get(k)?.awards ?? []) awardLots.push(a.entryId);
    }
    // Every open lot of a refunding member (a reversal may take from any), and of every member
    // the lots due by the batch's last event (they expire before the member's next movement).
    // Plus the lots a cancelled redemption took from (emptied ones included).
    const lots = await c.query(
      prepared(`select lot_id, member_id, points, remaining, earned_at, expires_at
         from ledger_lots where (member_id = any($1) and remaining > 0
          and (expires_at <= $2 or member_id = any($3))) or lot_id = any($4) order by lot_id`),
      [lockIds, iso(lastTime), [...refundMembers], restoreLots],
    );
    // A command's member's lots may expire at the command's time (before any purchase of the
    // task: its requestedAt), so their expiry counts are loaded as a due lot's.
    let commandTime = lastTime;
    for (const x of commands) commandTime = Math.max(commandTime, x.requestedAt);
    const commandSet = new Set(loadFor);
    const due: string[] = [...restoreLots];
    for (const r of lots.rows) {
      const lot: LotRow = {
        lotId: r.lot_id,
        memberId: r.member_id,
        points: r.points,
        remaining: r.remaining,
        earnedAt: r.earned_at.getTime(),
        expiresAt: r.expires_at.getTime(),
      };
      const list = state.lots.get(lot.memberId) ?? [];
      list.push(lot);
      state.lots.set(lot.memberId, list);
      if (lot.expiresAt <= (commandSet.has(lot.memberId) ? commandTime : lastTime)) due.push(lot.lotId);
    }
    // What expired before from the due lots (one that did was reopened by a cancelled
    // redemption) and from the refunded awards' lots (ADR 14), in one look at their movements.
    // Each movement's entry is looked up by its key: a join let the planner hash the whole
    // ledger when its statistics were stale (as in the API's expiry).
    const expiredOf = [...new Set([...due, ...awardLots])];
    if (expiredOf.length > 0) {
      const expired = await c.query<{ lot_id: string; points: number; n: number }>(
        prepared(`select m.lot_id, (-sum(m.points))::bigint as points, count(*)::int as n from ledger_lot_movements m
          where m.lot_id = any($1::text[])
            and (select e.kind from ledger_entries e where e.entry_id = m.entry_id) = 'expire'
          group by m.lot_id`),
        [expiredOf],
      );
      for (const r of expired.rows) {
        state.lotsExpired.set(r.lot_id, Number(r.points));
        state.expiryCounts.set(r.lot_id, r.n);
      }
    }
    // Caps and budgets are read by rules only: a batch of commands (and expiries) evaluates none.
    if (days.size === 0) return state;
    const usage = await c.query(
      prepared(`select member_id, rule_id, scope, day, points from rules_usage
        where member_id = any($1) and (scope = 'campaign' or day = any($2))`),
      [memberIds, [...days]],
    );
    for (const r of usage.rows) state.usage.set(usageKey(r.member_id, r.rule_id, r.scope, r.day), r.points);
    if (this.registry.budgeted.size > 0) {
      const budgets = await c.query<{ rule_id: string; used: number }>(
        prepared("select rule_id, used from rules_budgets where rule_id = any($1)"),
        [[...this.registry.budgeted.keys()]],
      );
      for (const r of budgets.rows) state.budgets.set(r.rule_id, r.used);
    }
    return state;
  }

  private async write(c: PoolClient, ps: readonly BatchProcessor[]): Promise<void> {
    const p = merged(ps);
    const s = p.state;
    const pe = p.priced;
    // Appended with COPY (packages/db/src/copy.ts): new by construction, as are the entries, new
    // lots and movements below. Another consumer (a zombie after a rebalance) that applied some of
    // these first makes the COPY fail on the primary key: start over.
    await copyRows(
      c,
      "rules_priced_events",
      ["event_id", "member_id", "event_kind", "rule_set_id", "rule_set_version", "event_time"],
      pe.map((e) => [e.eventId, e.memberId, e.eventKind, e.ruleSetId, e.ruleSetVersion, iso(e.eventTime)]),
    ).catch((err: unknown) => {
      if ((err as { code?: unknown }).code === "23505")
        throw new TransientError("events applied concurrently; retrying the batch", err);
      throw err;
    });

    const members = [...p.dirtyMembers].map((id) => s.members.get(id)).filter((m) => m !== undefined);
    // Staged with COPY, then upserted (packages/db/src/copy.ts): cheaper than one JSON document
    // parsed whole by jsonb_to_recordset.
    await copyUpsert(
      c,
      "rules_members",
      [
        "member_id",
        "enrolled_at",
        "enrolment_event_id",
        "birthday",
        "referrer_member_id",
        "segment",
        "risk_alerts",
        "order_count",
        "lifetime_spend_minor",
        "last_purchase_at",
        "tier_state",
        "counters",
      ],
      members.map((m) => [
        m.memberId,
        iso(m.enrolledAt),
        m.enrolmentEventId,
        m.birthday,
        m.referrerMemberId,
        m.segment,
        m.riskAlerts,
        m.orderCount,
        m.lifetimeSpendMinor,
        iso(m.lastPurchaseAt),
        m.tierState,
        m.counters,
      ]),
      {
        key: ["member_id"],
        set: `enrolled_at = excluded.enrolled_at, enrolment_event_id = excluded.enrolment_event_id,
              birthday = excluded.birthday, referrer_member_id = excluded.referrer_member_id,
              segment = excluded.segment, risk_alerts = excluded.risk_alerts, order_count = excluded.order_count,
              lifetime_spend_minor = excluded.lifetime_spend_minor, last_purchase_at = excluded.last_purchase_at,
              tier_state = excluded.tier_state, counters = excluded.counters`,
      },
    );
    const balances = [...p.dirtyBalances].map((id) => s.balances.get(id)).filter((b): b is BalanceRow => !!b);
    if (balances.length > 0) {
      await c.query(
        prepared(`insert into ledger_balances (member_id, balance, debt, shortfall)
         select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
         on conflict (member_id) do update set balance = excluded.balance, debt = excluded.debt,
           shortfall = excluded.shortfall, updated_at = now()`),
        [
          balances.map((b) => b.memberId),
          balances.map((b) => b.balance),
          balances.map((b) => b.debt),
          balances.map((b) => b.shortfall),
        ],
      );
    }
    const en = p.entries;
    if (en.length > 0) {
      // In the processor's order: seq (its default) is the ledger's commit order.
      await copyRows(
        c,
        "ledger_entries",
        [
          "entry_id",
          "member_id",
          "kind",
          "points",
          "balance_after",
          "rule_id",
          "rule_version",
          "rule_set_id",
          "rule_set_version",
          "source_event_id",
          "order_id",
          "reason",
          "event_time",
          "detail",
        ],
        en.map((e) => [
          e.entryId,
          e.memberId,
          e.kind,
          e.points,
          e.balanceAfter,
          e.ruleId,
          e.ruleVersion,
          e.ruleSetId,
          e.ruleSetVersion,
          e.sourceEventId,
          e.orderId,
          e.reason,
          iso(e.eventTime),
          e.detail,
        ]),
      );
    }
    const newLots = p.newLots;
    await copyRows(
      c,
      "ledger_lots",
      ["lot_id", "member_id", "points", "remaining", "earned_at", "expires_at"],
      newLots.map((l) => [l.lotId, l.memberId, l.points, l.remaining, iso(l.earnedAt), iso(l.expiresAt)]),
    );
    const isNew = new Set(newLots.map((l) => l.lotId));
    const changedLots: LotRow[] = [];
    for (const lots of s.lots.values())
      for (const l of lots) if (p.dirtyLots.has(l.lotId) && !isNew.has(l.lotId)) changedLots.push(l);
    if (changedLots.length > 0) {
      await c.query(
        prepared(`update ledger_lots l set remaining = u.remaining
           from unnest($1::text[], $2::bigint[]) as u(lot_id, remaining) where l.lot_id = u.lot_id`),
        [changedLots.map((l) => l.lotId), changedLots.map((l) => l.remaining)],
      );
    }
    await copyRows(
      c,
      "ledger_lot_movements",
      ["entry_id", "lot_id", "points"],
      p.movements.map((m) => [m.entryId, m.lotId, m.points]),
    );
    // New orders are appended; those with a row already (refunded since) are updated. Without the
    // loaded keys (never: every batch loads), every order goes through the upsert.
    const stored = this.storedOrders.get(s);
    const dirty = [...p.dirtyOrders].map((k) => s.orders.get(k)).filter((o): o is OrderRow => !!o);
    const fresh = stored === undefined ? [] : dirty.filter((o) => !stored.has(o.orderKey));
    const orders = stored === undefined ? dirty : dirty.filter((o) => stored.has(o.orderKey));
    await copyRows(
      c,
      "rules_orders",
      [
        "order_key",
        "member_id",
        "purchase_event_id",
        "event_time",
        "amount_minor",
        "base_amount_minor",
        "rule_set_id",
        "rule_set_version",
        "refunded_base_minor",
        "awards",
      ],
      fresh.map((o) => [
        o.orderKey,
        o.memberId,
        o.purchaseEventId,
        iso(o.eventTime),
        o.amountMinor,
        o.baseAmountMinor,
        o.ruleSetId,
        o.ruleSetVersion,
        o.refundedBaseMinor,
        o.awards,
      ]),
    );
    if (orders.length > 0) {
      await c.query(
        prepared(`insert into rules_orders (order_key, member_id, purchase_event_id, event_time, amount_minor, base_amount_minor,
                                   rule_set_id, rule_set_version, refunded_base_minor, awards)
         select * from jsonb_to_recordset($1::jsonb)
           as x(order_key text, member_id text, purchase_event_id text, event_time timestamptz, amount_minor bigint,
                base_amount_minor bigint, rule_set_id text, rule_set_version int, refunded_base_minor bigint, awards jsonb)
         on conflict (order_key) do update set refunded_base_minor = excluded.refunded_base_minor, awards = excluded.awards`),
        [
          JSON.stringify(
            orders.map((o) => ({
              order_key: o.orderKey,
              member_id: o.memberId,
              purchase_event_id: o.purchaseEventId,
              event_time: iso(o.eventTime),
              amount_minor: o.amountMinor,
              base_amount_minor: o.baseAmountMinor,
              rule_set_id: o.ruleSetId,
              rule_set_version: o.ruleSetVersion,
              refunded_base_minor: o.refundedBaseMinor,
              awards: o.awards,
            })),
          ),
        ],
      );
    }
    if (p.usageDelta.size > 0) {
      const rows = [...p.usageDelta].map(([k, v]) => [...splitUsageKey(k), v] as const);
      await c.query(
        prepared(`insert into rules_usage (member_id, rule_id, scope, day, points)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
         on conflict (member_id, rule_id, scope, day) do update set points = rules_usage.points + excluded.points`),
        [
          rows.map((r) => r[0]),
          rows.map((r) => r[1]),
          rows.map((r) => r[2]),
          rows.map((r) => r[3]),
          rows.map((r) => r[4]),
        ],
      );
    }
    if (p.budgetDelta.size > 0) {
      const rows = [...p.budgetDelta].filter(([, d]) => d > 0);
      // Conditional: never past the budget (the rows are locked, so this is a safety net).
      const updated = await c.query(
        prepared(`update rules_budgets b set used = b.used + u.delta
           from unnest($1::text[], $2::bigint[], $3::bigint[]) as u(rule_id, delta, total)
          where b.rule_id = u.rule_id and b.used + u.delta <= u.total`),
        [
          rows.map((r) => r[0]),
          rows.map((r) => r[1]),
          rows.map((r) => this.registry.budgeted.get(r[0]) ?? 0),
        ],
      );
      if (updated.rowCount !== rows.length)
        throw new TransientError("a budget would be exceeded; retrying the batch");
    }
    const lc = p.commands;
    if (lc.length > 0) {
      await c.query(
        prepared(`insert into rules_ledger_commands (command_id, member_id, type, status, redemption_id, order_id, entry_id, reply, applied_at)
         select command_id, member_id, type, status, redemption_id, order_id, entry_id, reply, applied_at
           from jsonb_to_recordset($1::jsonb)
             as x(command_id text, member_id text, type text, status text, redemption_id text, order_id text,
                  entry_id text, reply jsonb, applied_at timestamptz)`),
        [
          JSON.stringify(
            lc.map((x) => ({
              command_id: x.commandId,
              member_id: x.memberId,
              type: x.type,
              status: x.reply.status,
              redemption_id: x.redemptionId,
              order_id: x.orderId,
              entry_id: x.reply.entryId,
              reply: x.reply,
              applied_at: iso(x.reply.appliedAt),
            })),
          ),
        ],
      );
    }
    const cm = p.campaigns;
    if (cm.length > 0) {
      await c.query(
        prepared(`insert into rules_campaign_triggers (event_id, member_id, campaign_id, rule_id, rule_version, rule_set_version,
                                              source_event_id, event_time, reward_json)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[],
                              $8::timestamptz[], $9::text[])`),
        [
          cm.map((x) => x.eventId),
          cm.map((x) => x.memberId),
          cm.map((x) => x.campaignId),
          cm.map((x) => x.ruleId),
          cm.map((x) => x.ruleVersion),
          cm.map((x) => x.ruleSetVersion),
          cm.map((x) => x.sourceEventId),
          cm.map((x) => iso(x.eventTime)),
          cm.map((x) => x.rewardJson),
        ],
      );
    }
  }
}

/** The changes of a batch's processors (one per task, over the same rows), as one to write. */
function merged(ps: readonly BatchProcessor[]) {
  const first = ps[0];
  if (first === undefined) throw new TypeError("merged() of no processors");
  if (ps.length === 1) return first;
  const union = (f: (p: BatchProcessor) => Iterable<string>) => new Set(ps.flatMap((p) => [...f(p)]));
  const sum = (f: (p: BatchProcessor) => Map<string, number>) => {
    const m = new Map<string, number>();
    for (const p of ps) for (const [k, v] of f(p)) m.set(k, (m.get(k) ?? 0) + v);
    return m;
  };
  return {
    state: first.state,
    priced: ps.flatMap((p) => p.priced),
    dirtyMembers: union((p) => p.dirtyMembers),
    dirtyBalances: union((p) => p.dirtyBalances),
    dirtyLots: union((p) => p.dirtyLots),
    dirtyOrders: union((p) => p.dirtyOrders),
    entries: ps.flatMap((p) => p.entries),
    newLots: ps.flatMap((p) => p.newLots),
    movements: ps.flatMap((p) => p.movements),
    campaigns: ps.flatMap((p) => p.campaigns),
    commands: ps.flatMap((p) => p.commands),
    usageDelta: sum((p) => p.usageDelta),
    budgetDelta: sum((p) => p.budgetDelta),
  };
}

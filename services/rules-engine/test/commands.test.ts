import type { LedgerCommand, PurchaseEvent } from "@loyalty/contracts";
import { defaultTierConfig } from "@loyalty/tiers";
import { describe, expect, it } from "vitest";
import { type CommandView, commandProblem, decideCommand, lotsOf } from "../src/engine/commands.ts";
import { emptyState } from "../src/engine/draft.ts";
import { allocateFifo, restoration } from "../src/engine/lots.ts";
import { BatchProcessor, type EngineEvent, type EngineOptions, entryIdOf } from "../src/engine/process.ts";
import { RuleSetRegistry, checksumOf } from "../src/engine/registry.ts";
import { PROGRAMME, loadStandard } from "./rules/helpers.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const lot = (lotId: string, remaining: number, days: number) => ({
  lotId,
  remaining,
  expiresAt: T0 + days * DAY,
});

function cmd(over: Partial<LedgerCommand> & Pick<LedgerCommand, "type">): LedgerCommand {
  return {
    commandId: "c1",
    memberId: "m1",
    points: 0,
    redemptionId: null,
    orderId: null,
    reason: null,
    expiresAt: null,
    requestedBy: "key1",
    requestedAt: T0,
    ...over,
  };
}

const view = (over: Partial<CommandView> = {}): CommandView => ({
  known: true,
  balance: 0,
  debt: 0,
  lots: [],
  redemption: null,
  cancellation: null,
  ...over,
});

describe("allocateFifo (moved from the member API)", () => {
  it("takes the soonest-expiring lots first, then by lot id", () => {
    const lots = [lot("c", 50, 30), lot("b", 40, 10), lot("a", 30, 30), lot("d", 100, 5)];
    expect(allocateFifo(lots, 160, T0, 220)).toEqual({
      ok: true,
      takes: [
        { lotId: "d", points: 100, expiresAt: T0 + 5 * DAY },
        { lotId: "b", points: 40, expiresAt: T0 + 10 * DAY },
        { lotId: "a", points: 20, expiresAt: T0 + 30 * DAY },
      ],
    });
  });
  it("ignores lots expired at now and empty lots; the balance caps what is available", () => {
    const lots = [lot("old", 500, 0), lot("empty", 0, 1), lot("new", 10, 1)];
    expect(allocateFifo(lots, 10, T0, 510)).toEqual({
      ok: true,
      takes: [{ lotId: "new", points: 10, expiresAt: T0 + DAY }],
    });
    expect(allocateFifo([lot("a", 100, 3)], 80, T0, 60)).toEqual({ ok: false, available: 60 });
  });
  it("restoration puts back per lot what the movements took", () => {
    expect(
      restoration([
        { lotId: "b", points: -5 },
        { lotId: "a", points: -3 },
        { lotId: "b", points: -2 },
      ]),
    ).toEqual([
      { lotId: "a", points: 3 },
      { lotId: "b", points: 7 },
    ]);
    expect(() => restoration([{ lotId: "a", points: 1 }])).toThrow(RangeError);
  });
});

describe("commandProblem", () => {
  it("accepts well-formed commands of each type", () => {
    expect(commandProblem(cmd({ type: "REDEEM", points: 5 }))).toBeNull();
    expect(commandProblem(cmd({ type: "CANCEL_REDEMPTION", redemptionId: "r" }))).toBeNull();
    expect(commandProblem(cmd({ type: "ADJUST", points: -5, reason: "goodwill" }))).toBeNull();
  });
  it("names what is wrong", () => {
    expect(commandProblem(cmd({ type: "REDEEM", points: 0 }))).toMatch(/REDEEM needs points > 0/);
    expect(commandProblem(cmd({ type: "REDEEM", points: 1.5 }))).toMatch(/integer/);
    expect(commandProblem(cmd({ type: "CANCEL_REDEMPTION" }))).toMatch(/redemptionId/);
    expect(commandProblem(cmd({ type: "CANCEL_REDEMPTION", points: 3, redemptionId: "r" }))).toMatch(
      /points = 0/,
    );
    expect(commandProblem(cmd({ type: "ADJUST", points: 5 }))).toMatch(/reason/);
    expect(commandProblem(cmd({ type: "ADJUST", points: 0, reason: "x" }))).toMatch(/!= 0/);
    expect(commandProblem({ ...cmd({ type: "REDEEM", points: 1 }), commandId: "" })).toMatch(/commandId/);
    expect(commandProblem({ ...cmd({ type: "REDEEM", points: 1 }), memberId: 7 })).toMatch(/memberId/);
    expect(commandProblem({ ...cmd({ type: "REDEEM", points: 1 }), type: "STEAL" })).toMatch(
      /unknown command type/,
    );
    expect(commandProblem("x")).toMatch(/not a record/);
  });
});

describe("decideCommand", () => {
  const t = T0 + DAY;
  it("redeems from the soonest-expiring lots and answers the entry, balance and lots", () => {
    const e = decideCommand(
      cmd({ type: "REDEEM", points: 70, orderId: "o9" }),
      view({ balance: 150, lots: [lot("late", 100, 40), lot("soon", 50, 10)] }),
      t,
      12,
    );
    expect(e.kind).toBe("apply");
    if (e.kind !== "apply") return;
    expect(e.entry).toMatchObject({ kind: "redeem", points: -70, sourceEventId: "c1", orderId: "o9" });
    expect(e.entry.entryId).toBe(entryIdOf("c1", null, "redeem", "m1"));
    expect(e.moves).toEqual([
      { lotId: "soon", points: -50 },
      { lotId: "late", points: -20 },
    ]);
    expect(e.balanceAfter).toBe(80);
    expect(e.reply).toMatchObject({ status: "ACCEPTED", points: -70, balanceAfter: 80, appliedAt: t });
    expect(lotsOf(e.reply).map((l) => [l.lotId, l.points])).toEqual([
      ["soon", 50],
      ["late", 20],
    ]);
  });
  it("rejects a redemption over the balance, and a member it does not know", () => {
    const r = decideCommand(
      cmd({ type: "REDEEM", points: 151 }),
      view({ balance: 150, lots: [lot("a", 150, 9)] }),
      t,
      12,
    );
    expect(r).toMatchObject({
      kind: "reject",
      reply: { status: "REJECTED", reasonCode: "INSUFFICIENT_BALANCE", balanceAfter: 150 },
    });
    expect(r.reply.message).toBe("member m1 has 150 points available, 151 requested");
    const u = decideCommand(cmd({ type: "REDEEM", points: 1 }), view({ known: false }), t, 12);
    expect(u.reply).toMatchObject({ status: "REJECTED", reasonCode: "MEMBER_NOT_FOUND", entryId: null });
  });
  it("cancels by putting back what the redemption took; again: the recorded answer", () => {
    const red = decideCommand(
      cmd({ type: "REDEEM", commandId: "r1", points: 70 }),
      view({ balance: 150, lots: [lot("late", 100, 40), lot("soon", 50, 10)] }),
      t,
      12,
    );
    const stored = {
      commandId: "r1",
      memberId: "m1",
      type: "REDEEM" as const,
      redemptionId: null,
      orderId: "o1",
      reply: red.reply,
    };
    const c = decideCommand(
      cmd({ type: "CANCEL_REDEMPTION", commandId: "x1", redemptionId: "r1" }),
      view({ balance: 80, lots: [lot("late", 80, 40), lot("soon", 0, 10)], redemption: stored }),
      t,
      12,
    );
    expect(c.kind).toBe("apply");
    if (c.kind !== "apply") return;
    expect(c.entry).toMatchObject({
      kind: "adjust",
      points: 70,
      reason: "redemption-cancelled",
      orderId: "o1",
    });
    expect(c.entry.entryId).toBe(entryIdOf("r1", null, "adjust", "m1"));
    expect(c.moves).toEqual([
      { lotId: "late", points: 20 },
      { lotId: "soon", points: 50 },
    ]);
    expect(c.balanceAfter).toBe(150);
    const cancelled = {
      ...stored,
      commandId: "x1",
      type: "CANCEL_REDEMPTION" as const,
      redemptionId: "r1",
      reply: c.reply,
    };
    const again = decideCommand(
      cmd({ type: "CANCEL_REDEMPTION", commandId: "x2", redemptionId: "r1" }),
      view({ balance: 150, redemption: stored, cancellation: cancelled }),
      t,
      12,
    );
    expect(again).toEqual({ kind: "repeat", reply: { ...c.reply, commandId: "x2" } });
    const missing = decideCommand(
      cmd({ type: "CANCEL_REDEMPTION", redemptionId: "nope" }),
      view({ balance: 5 }),
      t,
      12,
    );
    expect(missing.reply).toMatchObject({
      reasonCode: "REDEMPTION_NOT_FOUND",
      message: "member m1 has no redemption nope",
    });
  });
  it("adjusts: + pays debt first and opens a lot with the rest; - takes like a redemption", () => {
    const plus = decideCommand(
      cmd({ type: "ADJUST", points: 100, reason: "goodwill", expiresAt: T0 + 90 * DAY }),
      view({ balance: -30, debt: 30 }),
      t,
      12,
    );
    expect(plus).toMatchObject({
      kind: "apply",
      balanceAfter: 70,
      debtAfter: 0,
      newLot: { lotId: entryIdOf("c1", null, "adjust", "m1"), points: 70, expiresAt: T0 + 90 * DAY },
      entry: { kind: "adjust", points: 100, reason: "goodwill", detail: { debtPaid: 30 } },
    });
    const minus = decideCommand(
      cmd({ type: "ADJUST", points: -40, reason: "fix" }),
      view({ balance: 50, lots: [lot("a", 50, 9)] }),
      t,
      12,
    );
    expect(minus).toMatchObject({
      kind: "apply",
      balanceAfter: 10,
      moves: [{ lotId: "a", points: -40 }],
      newLot: null,
    });
    const over = decideCommand(
      cmd({ type: "ADJUST", points: -60, reason: "fix" }),
      view({ balance: 50, lots: [lot("a", 50, 9)] }),
      t,
      12,
    );
    expect(over.reply).toMatchObject({
      reasonCode: "INSUFFICIENT_BALANCE",
      message: "member m1 has 50 points available, 60 to remove",
    });
    const stale = decideCommand(cmd({ type: "ADJUST", points: 5, reason: "x", expiresAt: t }), view(), t, 12);
    expect(stale.reply.reasonCode).toBe("INVALID_COMMAND");
  });
});

// The processor applies commands in order with purchases, at the stream time.
describe("BatchProcessor with ledger commands", () => {
  const OPTS: EngineOptions = {
    programme: PROGRAMME,
    tierConfig: defaultTierConfig,
    expiryMonths: 12,
    allowNegativeBalance: false,
  };
  const { ruleSet } = loadStandard();
  const reg = new RuleSetRegistry("standard", PROGRAMME);
  const json = JSON.stringify({ ...(ruleSet as object), version: 1 });
  reg.add({
    ruleSetId: "standard",
    version: 1,
    effectiveAt: 0,
    checksum: checksumOf(json),
    ruleSetJson: json,
  });
  const T = Date.UTC(2024, 2, 10, 12);
  let n = 0;
  const purchase = (memberId: string, cents: number, at: number): EngineEvent => {
    n++;
    const e: PurchaseEvent = {
      eventId: `e${n}`,
      type: "PURCHASE",
      memberId,
      source: "t",
      orderId: `o${n}`,
      eventTime: at,
      amountMinor: cents,
      currency: "USD",
      baseAmountMinor: cents,
      baseCurrency: "USD",
      fxRate: "1",
      lines: [],
      channel: null,
      storeId: null,
      refundId: null,
      refundedLineIds: [],
    };
    return { kind: "purchase", event: e };
  };
  const command = (c: LedgerCommand): EngineEvent => {
    n++;
    return {
      kind: "command",
      event: { eventId: `cmd:0:${n}`, memberId: c.memberId, eventTime: c.requestedAt },
      command: c,
    };
  };
  const stream = { from: Number.NEGATIVE_INFINITY, wallTime: null, owns: () => true };

  it("redeems at the stream time, answers a duplicate the same, never overspends, cancels", () => {
    const state = emptyState();
    // In memory every lot is there (as the simulator's state): nothing to load.
    state.lotsLoadedFor.add("m1");
    const p = new BatchProcessor(state, reg, OPTS);
    const buy = purchase("m1", 10_000, T);
    const events = [
      buy,
      command(cmd({ commandId: "r1", type: "REDEEM", points: 30, requestedAt: Date.now() })),
      command(cmd({ commandId: "r1", type: "REDEEM", points: 30, requestedAt: Date.now() })),
      command(cmd({ commandId: "r2", type: "REDEEM", points: 1_000_000, requestedAt: Date.now() })),
      command(
        cmd({ commandId: "x1", type: "CANCEL_REDEMPTION", redemptionId: "r1", requestedAt: Date.now() }),
      ),
      command(
        cmd({ commandId: "x2", type: "CANCEL_REDEMPTION", redemptionId: "r1", requestedAt: Date.now() }),
      ),
      command(
        cmd({ commandId: "u1", memberId: "ghost", type: "REDEEM", points: 1, requestedAt: Date.now() }),
      ),
    ];
    p.run(events, stream);
    const earned = p.entries.filter((e) => e.kind === "earn").reduce((s, e) => s + e.points, 0);
    expect(earned).toBeGreaterThan(30);
    const replies = events.slice(1).map((e) => p.replies.get(e.event.eventId));
    expect(replies.map((r) => [r?.commandId, r?.status, r?.reasonCode])).toEqual([
      ["r1", "ACCEPTED", null],
      ["r1", "ACCEPTED", null],
      ["r2", "REJECTED", "INSUFFICIENT_BALANCE"],
      ["x1", "ACCEPTED", null],
      ["x2", "ACCEPTED", null],
      ["u1", "REJECTED", "MEMBER_NOT_FOUND"],
    ]);
    // The duplicate re-sends the first reply and writes nothing: one redemption, one cancellation.
    expect(replies[1]).toEqual(replies[0]);
    expect(
      p.entries.filter((e) => e.kind === "redeem").map((e) => [e.points, e.balanceAfter, e.eventTime]),
    ).toEqual([[-30, earned - 30, T]]);
    expect(p.entries.filter((e) => e.kind === "adjust").map((e) => [e.points, e.balanceAfter])).toEqual([
      [30, earned],
    ]);
    expect(state.balances.get("m1")?.balance).toBe(earned);
    expect(state.lots.get("m1")?.reduce((s, l) => s + l.remaining, 0)).toBe(earned);
    expect(replies[4]).toEqual({ ...replies[3], commandId: "x2" });
    // Nothing exists of the unknown member.
    expect(state.members.has("ghost")).toBe(false);
    expect(state.balances.has("ghost")).toBe(false);
    expect(p.commands.map((c) => c.commandId)).toEqual(["r1", "r2", "x1", "x2", "u1"]);
  });

  it("expires the member's due lots before the command, at the stream time", () => {
    const state = emptyState();
    state.lotsLoadedFor.add("m2");
    const p = new BatchProcessor(state, reg, OPTS);
    const later = T + 400 * DAY;
    const first = purchase("m2", 10_000, T);
    const other = purchase("m3", 100, later);
    const redeem = command(
      cmd({ commandId: "r9", memberId: "m2", type: "REDEEM", points: 1, requestedAt: 0 }),
    );
    p.run([first, other, redeem], stream);
    expect(p.replies.get(redeem.event.eventId)).toMatchObject({
      status: "REJECTED",
      reasonCode: "INSUFFICIENT_BALANCE",
      balanceAfter: 0,
      appliedAt: later,
    });
    const m2 = p.entries.filter((e) => e.memberId === "m2");
    expect(new Set(m2.map((e) => e.kind))).toEqual(new Set(["earn", "expire"]));
    expect(m2.reduce((s, e) => s + e.points, 0)).toBe(0);
    expect(m2.at(-1)?.balanceAfter).toBe(0);
  });
});

// Ledger commands (loyalty.ledger-commands.v1, ADR 16 step 3), pure: what a command does to a
// member's ledger, decided from the member's balance and lots at the task's stream time. No I/O:
// BatchProcessor applies the effect to its rows in the member's partition order with purchases,
// and the store writes them with the batch. The member API sends the commands and relays the
// replies; it no longer writes the ledger.
//
// - REDEEM takes `points` from the open lots soonest expiring first (allocateFifo), never more
//   than the balance holds: otherwise REJECTED INSUFFICIENT_BALANCE.
// - CANCEL_REDEMPTION puts back into each lot exactly what the redemption named by
//   `redemptionId` took (the lots keep their expiry). Cancelling again answers the recorded
//   cancellation and changes nothing; a redemption the member does not have: REDEMPTION_NOT_FOUND.
// - ADJUST > 0 pays off debt first and opens a lot with the rest (lot id = the entry id) expiring
//   at `expiresAt`; ADJUST < 0 is taken from the lots like a redemption.
// - A member the ledger does not know: REJECTED MEMBER_NOT_FOUND.
import type { LedgerCommand, LedgerCommandType, LedgerReply } from "@loyalty/contracts";
import { addMonthsUtc } from "@loyalty/tiers";
import { type OpenLot, type SignedLotMove, allocateFifo, fifoOrder, restoration } from "./lots.ts";
import { entryIdOf } from "./model.ts";

export type RejectCode =
  | "INSUFFICIENT_BALANCE"
  | "MEMBER_NOT_FOUND"
  | "REDEMPTION_NOT_FOUND"
  | "INVALID_COMMAND";

/** A lot an entry took from (points > 0) or put into, as the reply's `lotsJson` lists it. */
export interface LotLine {
  lotId: string;
  points: number;
  expiresAt: string;
}

/** A command as the engine recorded it (rules_ledger_commands): a duplicate re-sends `reply`. */
export interface StoredCommand {
  commandId: string;
  memberId: string;
  type: LedgerCommandType;
  /** CANCEL_REDEMPTION: the redemption it names. */
  redemptionId: string | null;
  orderId: string | null;
  reply: LedgerReply;
}

/** What `decideCommand` reads of the member's ledger. */
export interface CommandView {
  /** The ledger or the engine knows the member. */
  known: boolean;
  balance: number;
  debt: number;
  /** The member's lots: every open one, and those a cancelled redemption took from. */
  lots: readonly OpenLot[];
  /** CANCEL_REDEMPTION: the accepted REDEEM it names, if this member made it. */
  redemption: StoredCommand | null;
  /** CANCEL_REDEMPTION: an accepted cancellation of that redemption, if there is one. */
  cancellation: StoredCommand | null;
}

export interface CommandEntry {
  entryId: string;
  kind: "redeem" | "adjust";
  /** Signed change of the balance. */
  points: number;
  sourceEventId: string;
  orderId: string | null;
  reason: string | null;
  detail: Record<string, unknown>;
}

export type CommandEffect =
  /** Nothing changes; the reply says why. */
  | { kind: "reject"; reply: LedgerReply }
  /** A cancellation repeated: the recorded one's answer, nothing changes. */
  | { kind: "repeat"; reply: LedgerReply }
  | {
      kind: "apply";
      entry: CommandEntry;
      /** Changes of existing lots' remaining (signed), one per lot. */
      moves: SignedLotMove[];
      /** ADJUST > 0: the lot it opens. */
      newLot: { lotId: string; points: number; expiresAt: number } | null;
      balanceAfter: number;
      debtAfter: number;
      reply: LedgerReply;
    };

/** Why a decoded command cannot be applied at all (its record goes to the DLQ), or null. */
export function commandProblem(raw: unknown): string | null {
  if (typeof raw !== "object" || raw === null) return "not a record";
  const c = raw as Partial<Record<keyof LedgerCommand, unknown>>;
  if (typeof c.commandId !== "string" || c.commandId === "") return "commandId is required";
  if (typeof c.memberId !== "string" || c.memberId === "") return "memberId is required";
  if (typeof c.requestedBy !== "string") return "requestedBy is required";
  if (!Number.isSafeInteger(toMs(c.requestedAt))) return "requestedAt is not a timestamp";
  if (!Number.isSafeInteger(c.points)) return "points is not an integer";
  const points = c.points as number;
  const text = (v: unknown) => typeof v === "string" && v.trim() !== "";
  switch (c.type) {
    case "REDEEM":
      return points > 0 ? null : `REDEEM needs points > 0, got ${points}`;
    case "CANCEL_REDEMPTION":
      if (points !== 0) return `CANCEL_REDEMPTION needs points = 0, got ${points}`;
      return text(c.redemptionId) ? null : "CANCEL_REDEMPTION needs a redemptionId";
    case "ADJUST":
      if (points === 0) return "ADJUST needs points != 0";
      if (!text(c.reason)) return "ADJUST needs a reason";
      if (c.expiresAt !== null && c.expiresAt !== undefined && !Number.isSafeInteger(toMs(c.expiresAt)))
        return "expiresAt is not a timestamp";
      return null;
    default:
      return `unknown command type ${String(c.type)}`;
  }
}

/** Avro timestamp-millis decodes to a Date or a number, depending on the codec's options. */
export function toMs(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  return typeof v === "number" ? v : Number.NaN;
}

/** A validated command with its timestamps as epoch ms. */
export function normaliseCommand(raw: LedgerCommand): LedgerCommand {
  return {
    ...raw,
    requestedAt: toMs(raw.requestedAt),
    expiresAt: raw.expiresAt === null || raw.expiresAt === undefined ? null : toMs(raw.expiresAt),
    redemptionId: raw.redemptionId ?? null,
    orderId: raw.orderId ?? null,
    reason: raw.reason ?? null,
  };
}

const iso = (t: number) => new Date(t).toISOString();

function reject(
  cmd: LedgerCommand,
  code: RejectCode,
  message: string,
  balance: number,
  t: number,
): CommandEffect {
  return {
    kind: "reject",
    reply: {
      commandId: cmd.commandId,
      memberId: cmd.memberId,
      status: "REJECTED",
      reasonCode: code,
      message,
      entryId: null,
      points: null,
      balanceAfter: balance,
      lotsJson: null,
      appliedAt: t,
    },
  };
}

function accepted(cmd: LedgerCommand, entry: CommandEntry, balanceAfter: number, lots: LotLine[], t: number) {
  return {
    commandId: cmd.commandId,
    memberId: cmd.memberId,
    status: "ACCEPTED" as const,
    reasonCode: null,
    message: null,
    entryId: entry.entryId,
    points: entry.points,
    balanceAfter,
    lotsJson: JSON.stringify(lots),
    appliedAt: t,
  };
}

/** The lots a reply lists (`lotsJson`), or [] when it lists none. */
export function lotsOf(reply: LedgerReply): LotLine[] {
  return reply.lotsJson === null ? [] : (JSON.parse(reply.lotsJson) as LotLine[]);
}

/**
 * What `cmd` does at stream time `t` to the member seen through `view`. `expiryMonths`: the
 * default expiry of the lot a positive adjustment opens (after `requestedAt`, as the schema says).
 */
export function decideCommand(
  cmd: LedgerCommand,
  view: CommandView,
  t: number,
  expiryMonths: number,
): CommandEffect {
  const { memberId } = cmd;
  if (!view.known) return reject(cmd, "MEMBER_NOT_FOUND", `member ${memberId} is not known`, 0, t);
  switch (cmd.type) {
    case "REDEEM": {
      const alloc = allocateFifo(view.lots, cmd.points, t, view.balance);
      if (!alloc.ok)
        return reject(
          cmd,
          "INSUFFICIENT_BALANCE",
          `member ${memberId} has ${alloc.available} points available, ${cmd.points} requested`,
          view.balance,
          t,
        );
      const entry: CommandEntry = {
        entryId: entryIdOf(cmd.commandId, null, "redeem", memberId),
        kind: "redeem",
        points: -cmd.points,
        sourceEventId: cmd.commandId,
        orderId: cmd.orderId,
        reason: cmd.reason,
        detail: { redemptionId: cmd.commandId, keyId: cmd.requestedBy },
      };
      const balanceAfter = view.balance - cmd.points;
      const lots = alloc.takes.map((x) => ({
        lotId: x.lotId,
        points: x.points,
        expiresAt: iso(x.expiresAt),
      }));
      return {
        kind: "apply",
        entry,
        moves: alloc.takes.map((x) => ({ lotId: x.lotId, points: -x.points })),
        newLot: null,
        balanceAfter,
        debtAfter: view.debt,
        reply: accepted(cmd, entry, balanceAfter, lots, t),
      };
    }
    case "CANCEL_REDEMPTION": {
      const redemptionId = cmd.redemptionId ?? "";
      const red = view.redemption;
      if (red === null || red.memberId !== memberId || red.reply.status !== "ACCEPTED")
        return reject(
          cmd,
          "REDEMPTION_NOT_FOUND",
          `member ${memberId} has no redemption ${redemptionId}`,
          view.balance,
          t,
        );
      if (view.cancellation !== null)
        return { kind: "repeat", reply: { ...view.cancellation.reply, commandId: cmd.commandId } };
      const back = restoration(lotsOf(red.reply).map((l) => ({ lotId: l.lotId, points: -l.points })));
      const total = back.reduce((s, b) => s + b.points, 0);
      const expiry = new Map(view.lots.map((l) => [l.lotId, l.expiresAt]));
      const entry: CommandEntry = {
        entryId: entryIdOf(redemptionId, null, "adjust", memberId),
        kind: "adjust",
        points: total,
        sourceEventId: redemptionId,
        orderId: red.orderId,
        reason: "redemption-cancelled",
        detail: { cancels: red.reply.entryId, redemptionId, note: cmd.reason, keyId: cmd.requestedBy },
      };
      const balanceAfter = view.balance + total;
      const lots = back
        .map((b) => ({ lotId: b.lotId, points: b.points, expiresAt: expiry.get(b.lotId) ?? 0 }))
        .sort(fifoOrder)
        .map((b) => ({ ...b, expiresAt: iso(b.expiresAt) }));
      return {
        kind: "apply",
        entry,
        moves: back,
        newLot: null,
        balanceAfter,
        debtAfter: view.debt,
        reply: accepted(cmd, entry, balanceAfter, lots, t),
      };
    }
    case "ADJUST": {
      const entryId = entryIdOf(cmd.commandId, null, "adjust", memberId);
      const balanceAfter = view.balance + cmd.points;
      let debt = view.debt;
      let moves: SignedLotMove[] = [];
      let newLot: { lotId: string; points: number; expiresAt: number } | null = null;
      let lines: LotLine[];
      if (cmd.points < 0) {
        const alloc = allocateFifo(view.lots, -cmd.points, t, view.balance);
        if (!alloc.ok)
          return reject(
            cmd,
            "INSUFFICIENT_BALANCE",
            `member ${memberId} has ${alloc.available} points available, ${-cmd.points} to remove`,
            view.balance,
            t,
          );
        moves = alloc.takes.map((x) => ({ lotId: x.lotId, points: -x.points }));
        lines = alloc.takes.map((x) => ({ lotId: x.lotId, points: -x.points, expiresAt: iso(x.expiresAt) }));
      } else {
        const expiresAt = cmd.expiresAt ?? addMonthsUtc(cmd.requestedAt, expiryMonths);
        if (!(expiresAt > t))
          return reject(
            cmd,
            "INVALID_COMMAND",
            `expiresAt ${iso(expiresAt)} is not after the ledger's time ${iso(t)}`,
            view.balance,
            t,
          );
        const toDebt = Math.min(debt, cmd.points);
        debt -= toDebt;
        const intoLot = cmd.points - toDebt;
        if (intoLot > 0) newLot = { lotId: entryId, points: intoLot, expiresAt };
        lines = newLot ? [{ lotId: entryId, points: intoLot, expiresAt: iso(expiresAt) }] : [];
      }
      const entry: CommandEntry = {
        entryId,
        kind: "adjust",
        points: cmd.points,
        sourceEventId: cmd.commandId,
        orderId: null,
        reason: cmd.reason,
        detail: { adjustmentId: cmd.commandId, keyId: cmd.requestedBy, debtPaid: view.debt - debt },
      };
      return {
        kind: "apply",
        entry,
        moves,
        newLot,
        balanceAfter,
        debtAfter: debt,
        reply: accepted(cmd, entry, balanceAfter, lines, t),
      };
    }
  }
}

// The HTTP answer a ledger reply gives (answerOf, pure): the same statuses and bodies the API gave
// when it wrote the ledger itself.
import type { LedgerReply } from "@loyalty/contracts";
import { describe, expect, it } from "vitest";
import { answerOf } from "../src/store/ledger.ts";

const T = Date.UTC(2026, 0, 5, 12);
const lots = [{ lotId: "pts-a", points: 30, expiresAt: "2026-03-01T00:00:00.000Z" }];
const accepted = (over: Partial<LedgerReply>): LedgerReply => ({
  commandId: "rdm-1",
  memberId: "m1",
  status: "ACCEPTED",
  reasonCode: null,
  message: null,
  entryId: "pts-e",
  points: -30,
  balanceAfter: 70,
  lotsJson: JSON.stringify(lots),
  appliedAt: T,
  ...over,
});
const rejected = (reasonCode: string, message: string): LedgerReply =>
  accepted({ status: "REJECTED", reasonCode, message, entryId: null, points: null, lotsJson: null });

describe("answerOf", () => {
  it("a redemption: 201 with the points taken, the lots and the order id the request carried", () => {
    expect(
      answerOf("redeem", { commandId: "rdm-1", memberId: "m1", request: { orderId: "o-1" } }, accepted({})),
    ).toEqual({
      status: 201,
      body: {
        redemptionId: "rdm-1",
        memberId: "m1",
        status: "redeemed",
        points: 30,
        balanceAfter: 70,
        entryId: "pts-e",
        orderId: "o-1",
        eventTime: new Date(T).toISOString(),
        lots,
      },
    });
  });

  it("a cancellation: 200 with the redemption's id and the points put back", () => {
    const a = answerOf(
      "cancel",
      { commandId: "cnl-1", memberId: "m1", request: { redemptionId: "rdm-1", orderId: null } },
      accepted({ commandId: "cnl-1", points: 30, balanceAfter: 100 }),
    );
    expect(a).toMatchObject({
      status: 200,
      body: { redemptionId: "rdm-1", status: "cancelled", points: 30, balanceAfter: 100 },
    });
  });

  it("an adjustment: 201 with its reason", () => {
    const a = answerOf(
      "adjust",
      { commandId: "adj-1", memberId: "m1", request: { reason: "goodwill" } },
      accepted({ commandId: "adj-1", points: 50, balanceAfter: 150 }),
    );
    expect(a).toMatchObject({ status: 201, body: { adjustmentId: "adj-1", points: 50, reason: "goodwill" } });
  });

  it("the engine's refusals: the API's error codes, statuses and fields", () => {
    const cmd = { commandId: "rdm-1", memberId: "m1", request: {} };
    expect(
      answerOf(
        "redeem",
        cmd,
        rejected("INSUFFICIENT_BALANCE", "member m1 has 5 points available, 30 requested"),
      ),
    ).toEqual({
      status: 422,
      body: {
        error: {
          code: "INSUFFICIENT_BALANCE",
          message: "member m1 has 5 points available, 30 requested",
          field: "body.points",
        },
      },
    });
    expect(answerOf("redeem", cmd, rejected("MEMBER_NOT_FOUND", "member m1 is not known"))).toMatchObject({
      status: 404,
      body: { error: { code: "MEMBER_NOT_FOUND", field: "params.memberId" } },
    });
    expect(answerOf("cancel", cmd, rejected("REDEMPTION_NOT_FOUND", "no"))).toMatchObject({
      status: 404,
      body: { error: { code: "REDEMPTION_NOT_FOUND", field: "params.redemptionId" } },
    });
    expect(
      answerOf("adjust", cmd, rejected("INVALID_COMMAND", "expiresAt is not after the ledger's time")),
    ).toMatchObject({
      status: 400,
      body: { error: { code: "VALIDATION_FAILED", message: "expiresAt is not after the ledger's time" } },
    });
  });
});

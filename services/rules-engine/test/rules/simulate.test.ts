import { describe, expect, it } from "vitest";
import { evaluate } from "../../src/rules/evaluate.ts";
import { buildMemberEventFacts, buildOrderFacts } from "../../src/rules/facts.ts";
import { type SimulatedEvent, simulate } from "../../src/rules/simulate.ts";
import { BASE_RULE, NOW, PROGRAMME, compileRules, member, order, rule } from "./helpers.ts";

describe("simulate", () => {
  it("aggregates points, reach, liability", () => {
    const c = compileRules([
      BASE_RULE,
      rule({
        id: "first",
        conditions: { all: [{ fact: "member.orderCount", operator: "equal", value: 0 }] },
      }),
      rule({
        id: "ref",
        trigger: "member.referred",
        event: { type: "fixed-bonus", params: { points: 500, recipient: "referrer" } },
      }),
      rule({ id: "capped", budget: { totalPoints: 5 } }),
    ]);
    const events: SimulatedEvent[] = [];
    for (const [id, amount, orders] of [
      ["a", 10_000, 0],
      ["a", 2_550, 1],
      ["b", 99, 3],
    ] as const) {
      const f = buildOrderFacts(
        order({ amountMinor: amount }),
        member({ memberId: id, orderCount: orders }),
        PROGRAMME,
      );
      events.push({
        memberId: id,
        evaluation: evaluate(c, "order.placed", f, NOW, { budgetUsed: { capped: id === "b" ? 5 : 0 } }),
      });
    }
    events.push({
      memberId: "c",
      referrerId: "a",
      evaluation: evaluate(
        c,
        "member.referred",
        buildMemberEventFacts(member({ memberId: "c" }), PROGRAMME, NOW),
        NOW,
      ),
    });
    const report = simulate(events, { pointValueMinor: "0.5", currency: "USD" });
    expect(report.byRule).toEqual([
      // b's $0.99 order floors to 0 points: matched, but no award.
      {
        ruleId: "base",
        versions: [1],
        matched: 3,
        awards: 2,
        points: 125,
        membersReached: 1,
        denied: 0,
        suppressed: 0,
        campaigns: 0,
      },
      {
        ruleId: "capped",
        versions: [1],
        matched: 3,
        awards: 2,
        points: 10,
        membersReached: 1,
        denied: 1,
        suppressed: 0,
        campaigns: 0,
      },
      {
        ruleId: "first",
        versions: [1],
        matched: 1,
        awards: 1,
        points: 10,
        membersReached: 1,
        denied: 0,
        suppressed: 0,
        campaigns: 0,
      },
      {
        ruleId: "ref",
        versions: [1],
        matched: 1,
        awards: 1,
        points: 500,
        membersReached: 1,
        denied: 0,
        suppressed: 0,
        campaigns: 0,
      },
    ]);
    expect(report.totalPoints).toBe(645);
    expect(report.liabilityMinor).toBe(323); // 322.5 half-up
    expect(
      simulate(events, { pointValueMinor: "0.5", currency: "USD", rounding: "floor" }).liabilityMinor,
    ).toBe(322);
    expect(report.events).toBe(4);
  });
});

import { describe, expect, it } from "vitest";
import { FACTS } from "../../src/rules/catalogue.ts";
import { evaluate } from "../../src/rules/evaluate.ts";
import { buildMemberEventFacts, buildOrderFacts } from "../../src/rules/facts.ts";
import type { Trigger } from "../../src/rules/types.ts";
import { NOW, PROGRAMME, compileRules, member, order, rule } from "./helpers.ts";

describe("buildOrderFacts", () => {
  it("derives order and member facts in the programme time zone", () => {
    // 2025-01-01T03:30Z is Tuesday 2024-12-31 22:30 in New York.
    const f = buildOrderFacts(
      order({ placedAt: "2025-01-01T03:30:00Z" }),
      member({
        birthdayMonth: 12,
        lastPurchaseAt: "2024-12-01T03:30:00Z",
        enrolledAt: "2024-01-01T03:30:00Z",
      }),
      PROGRAMME,
    );
    expect(f.order).toMatchObject({
      amountMinor: 10_000,
      baseAmountMinor: 10_000,
      currency: "USD",
      categories: ["rock", "jazz"],
      skus: ["cd-1", "cd-2"],
      quantity: 3,
      channel: "web",
      storeId: "s1",
      dayOfWeek: 2,
      hour: 22,
      month: 12,
    });
    expect(f.member).toEqual({
      tier: "member",
      enrolledAt: "2024-01-01T03:30:00Z",
      tenureDays: 366,
      birthdayMonth: 12,
      isBirthdayMonth: true,
      orderCount: 5,
      lifetimeSpendMinor: 50_000,
      daysSinceLastPurchase: 31,
      segment: "regular",
      atRisk: false,
    });
    const utc = buildOrderFacts(order({ placedAt: "2025-01-01T03:30:00Z" }), member(), {
      ...PROGRAMME,
      timeZone: "UTC",
    });
    expect(utc.order).toMatchObject({ dayOfWeek: 3, hour: 3, month: 1 });
  });

  it("never-purchased members have null daysSinceLastPurchase", () => {
    const f = buildOrderFacts(order(), member({ lastPurchaseAt: null, orderCount: 0 }), PROGRAMME);
    expect(f.member.daysSinceLastPurchase).toBeNull();
  });

  it("counters keep a __proto__ campaign id as data", () => {
    const counters = JSON.parse('{"__proto__":{"memberCount":3},"summer":{"memberCount":1}}');
    const f = buildOrderFacts(order(), member({ counters }), PROGRAMME);
    expect(Object.getPrototypeOf(f.counters)).toBeNull();
    expect(Object.keys(f.counters)).toEqual(["__proto__", "summer"]);
  });
});

// Every catalogued fact, used in a condition that holds for the standard test order/member.
const orderFacts = buildOrderFacts(
  order({ placedAt: NOW }),
  member({
    tier: "gold",
    segment: "students",
    birthdayMonth: 6,
    atRisk: true,
    counters: { summer: { memberCount: 2, memberPoints: 40 } },
  }),
  PROGRAMME,
);
const CASES: Array<[string, string, unknown, Trigger, unknown?]> = [
  ["order.amountMinor", "equal", 10_000, "order.placed"],
  ["order.currency", "equal", "USD", "order.placed"],
  ["order.baseAmountMinor", "greaterThanInclusive", 10_000, "order.placed"],
  ["order.lines", "contains", "jazz", "order.placed", "$[*].category"],
  ["order.categories", "contains", "jazz", "order.placed"],
  ["order.skus", "doesNotContain", "cd-9", "order.placed"],
  ["order.quantity", "equal", 3, "order.placed"],
  ["order.channel", "in", ["web", "app"], "order.placed"],
  ["order.storeId", "notEqual", null, "order.placed"],
  ["order.dayOfWeek", "equal", 0, "order.placed"],
  ["order.hour", "equal", 8, "order.placed"],
  ["order.month", "equal", 6, "order.placed"],
  ["member.tier", "equal", "gold", "order.placed"],
  ["member.enrolledAt", "equal", "2024-01-01T00:00:00Z", "order.placed"],
  ["member.tenureDays", "greaterThan", 365, "order.placed"],
  ["member.birthdayMonth", "equal", 6, "order.placed"],
  ["member.isBirthdayMonth", "equal", true, "order.placed"],
  ["member.orderCount", "lessThan", 6, "order.placed"],
  ["member.lifetimeSpendMinor", "lessThanInclusive", 50_000, "order.placed"],
  ["member.daysSinceLastPurchase", "equal", 14, "order.placed"],
  ["member.segment", "notIn", ["regular"], "order.placed"],
  ["member.atRisk", "equal", true, "order.placed"],
  ["counters.summer.memberCount", "equal", 2, "order.placed"],
  ["counters.summer.memberPoints", "greaterThan", 39, "order.placed"],
  ["referral.referrerTier", "equal", "platinum", "member.referred"],
  ["churn.score", "greaterThanInclusive", 70, "churn.alerted"],
  ["churn.reason", "equal", "inactivity", "churn.alerted"],
];

describe("every catalogued fact", () => {
  it("the table covers the whole catalogue", () => {
    const covered = new Set(CASES.map((c) => c[0]));
    for (const name of Object.keys(FACTS)) expect(covered.has(name), name).toBe(true);
  });

  it.each(CASES)("%s %s %j", (fact, operator, value, trigger, path) => {
    const cond: Record<string, unknown> = { fact, operator, value };
    if (path !== undefined) cond.path = path;
    const c = compileRules([
      rule({ trigger, conditions: { all: [cond] } }),
      rule({ id: "neg", trigger, conditions: { not: cond } }),
    ]);
    const f =
      trigger === "order.placed"
        ? orderFacts
        : buildMemberEventFacts(member({ tier: "gold" }), PROGRAMME, NOW, {
            referral: { referrerTier: "platinum" },
            churn: { score: 81, reason: "inactivity" },
          });
    expect(evaluate(c, trigger, f, NOW).matched.map((m) => m.ruleId)).toEqual(["r1"]);
  });

  it("a fact missing from the facts object is undefined, not an error", () => {
    const c = compileRules([
      rule({
        id: "eq",
        conditions: { all: [{ fact: "counters.winter.memberCount", operator: "equal", value: 0 }] },
      }),
      rule({
        id: "ne",
        conditions: { all: [{ fact: "counters.winter.memberCount", operator: "notEqual", value: 0 }] },
      }),
    ]);
    expect(evaluate(c, "order.placed", orderFacts, NOW).matched.map((m) => m.ruleId)).toEqual(["ne"]);
  });

  it("fact references compare two facts", () => {
    const c = compileRules([
      rule({
        conditions: {
          all: [{ fact: "order.quantity", operator: "lessThan", value: { fact: "member.orderCount" } }],
        },
      }),
    ]);
    expect(evaluate(c, "order.placed", orderFacts, NOW).matched).toHaveLength(1);
  });
});

describe("zonedParts", () => {
  it("agrees with Intl across DST transitions and odd offsets", async () => {
    const { zonedParts } = await import("../../src/rules/facts.ts");
    const zones = [
      "America/New_York",
      "Europe/London",
      "Australia/Lord_Howe",
      "Asia/Kathmandu",
      "Pacific/Chatham",
      "UTC",
    ];
    const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    // Minute by minute around real transitions, plus random instants.
    const around = [
      Date.UTC(2025, 2, 9, 7),
      Date.UTC(2025, 10, 2, 6),
      Date.UTC(2025, 2, 30, 1),
      Date.UTC(2025, 3, 5, 15),
      Date.UTC(2025, 8, 27, 14),
    ];
    for (const timeZone of zones) {
      const f = new Intl.DateTimeFormat("en-US", {
        timeZone,
        weekday: "short",
        month: "numeric",
        hour: "numeric",
        hourCycle: "h23",
      });
      const instants: number[] = [];
      for (const t of around)
        for (let m = -180; m <= 180; m++) instants.push(t + m * 60_000 - 1, t + m * 60_000);
      for (let i = 0; i < 3000; i++) {
        instants.push(
          Date.UTC(2024, 0, 1) + Math.floor(next() * 730 * 1440) * 60_000 + Math.floor(next() * 60_000),
        );
      }
      for (const ms of instants) {
        const parts = Object.fromEntries(f.formatToParts(ms).map((p) => [p.type, p.value]));
        const expected = {
          dayOfWeek: days.indexOf(parts.weekday ?? ""),
          hour: Number(parts.hour) % 24,
          month: Number(parts.month),
        };
        expect(zonedParts(ms, timeZone), `${timeZone} ${new Date(ms).toISOString()}`).toEqual(expected);
      }
    }
  });
});

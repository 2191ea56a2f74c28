import { DAY_MS, type TierConfig, defaultTierConfig, validateTierConfig } from "@loyalty/tiers";
import { describe, expect, it } from "vitest";
import { tierChangeId, toTierChanged } from "../src/domain/output.ts";
import { MemoryPartition, at, input, tickAt } from "./helpers.ts";

const cfg = defaultTierConfig; // spend: Silver 100$, Gold 250$, Platinum 600$; 12 months; anniversary; 30 days grace

describe("upgrades", () => {
  it("upgrades on the qualifying event, effective at its event time", () => {
    const p = new MemoryPartition(cfg);
    p.run([
      input("a", "purchase", "1997-01-05T10:00:00Z", 6_000),
      input("a", "purchase", "1997-02-01T09:00:00Z", 20_000),
    ]);
    expect(p.changes).toHaveLength(1);
    const c = p.changes[0]!;
    expect(c).toMatchObject({ from: "Member", to: "Gold", direction: "up", reason: "qualified" });
    expect(c.effectiveAt).toBe(at("1997-02-01T09:00:00Z"));
    expect(c.metricValue).toBe(26_000);
    expect(c.threshold).toBe(25_000);
    const out = toTierChanged(c);
    expect(out.eventId).toBe(tierChangeId(c));
    expect(out.reason).toBe("QUALIFIED");
    expect(out.direction).toBe("UP");
  });
});

describe("time-driven downgrades (no event from the member)", () => {
  it("downgrades one level at the anniversary evaluation after the grace period, driven by other members' events", () => {
    const p = new MemoryPartition(cfg);
    p.run([input("a", "purchase", "1997-01-10", 30_000)]);
    expect(p.tier("a")).toBe("Gold");
    // Nothing from "a" again. The window expires in Jan 1998; the evaluation is on the
    // anniversary of the upgrade (1998-01-10), the downgrade 30 days later.
    p.run([tickAt("1997-06-01"), tickAt("1998-01-09")]);
    expect(p.tier("a")).toBe("Gold");
    p.run([tickAt("1998-01-11")]);
    expect(p.tier("a")).toBe("Gold"); // failed evaluation, grace running
    p.run([tickAt("1998-02-09")]);
    expect(p.tier("a")).toBe("Gold"); // grace ends at 1998-01-10 + 30 days = 1998-02-09: the clock must pass it
    p.run([tickAt("1998-02-09T00:00:00.001Z")]);
    const down = p.changes.filter((c) => c.memberId === "a" && c.direction === "down");
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ from: "Gold", to: "Silver", reason: "grace-expired", metricValue: 0 });
    expect(down[0]!.evaluationDate).toBe(at("1998-01-10"));
    expect(down[0]!.effectiveAt).toBe(at("1998-01-10") + 30 * DAY_MS);
  });

  it("requalifying during the grace period cancels the downgrade", () => {
    const p = new MemoryPartition(cfg);
    p.run([input("a", "purchase", "1997-01-10", 30_000), tickAt("1998-01-20")]);
    p.run([input("a", "purchase", "1998-01-25", 26_000), tickAt("1998-06-01")]);
    expect(p.changes.filter((c) => c.memberId === "a" && c.direction === "down")).toEqual([]);
    expect(p.tier("a")).toBe("Gold");
  });

  it("effective times do not depend on when the clock passed them", () => {
    const slow = new MemoryPartition(cfg);
    slow.run([input("a", "purchase", "1997-01-10", 70_000)]);
    for (const d of ["1998-01-15", "1998-03-01", "1999-01-01", "1999-06-01", "2000-06-01"])
      slow.run([tickAt(d)]);
    const fast = new MemoryPartition(cfg);
    fast.run([input("a", "purchase", "1997-01-10", 70_000), tickAt("2000-06-01")]);
    const mine = (p: MemoryPartition) => p.changes.filter((c) => c.memberId === "a");
    expect(mine(fast)).toEqual(mine(slow));
    // Platinum -> Gold -> Silver -> Member, one level per evaluation.
    expect(mine(fast).map((c) => c.to)).toEqual(["Platinum", "Gold", "Silver", "Member"]);
  });
});

describe("refunds and cancellations", () => {
  it("a refund lowers the metric but demotes only at the next evaluation, never retroactively", () => {
    const p = new MemoryPartition(cfg);
    const buy = input("a", "purchase", "1997-03-01", 30_000, "order-1");
    p.run([buy]);
    expect(p.tier("a")).toBe("Gold");
    p.run([input("a", "refund", "1997-03-10", 10_000, "order-1")]);
    expect(p.tier("a")).toBe("Gold"); // no immediate downgrade
    expect(p.records.get("a")!.state.windowSum).toBe(20_000);
    p.run([tickAt("1998-03-01T00:00:01Z")]);
    expect(p.tier("a")).toBe("Gold"); // evaluation failed, grace running
    p.run([tickAt("1998-04-01")]);
    const down = p.changes.filter((c) => c.direction === "down");
    expect(down).toHaveLength(1);
    // Evaluated on the anniversary of the upgrade, not back-dated to the refund.
    expect(down[0]!.evaluationDate).toBe(at("1998-03-01"));
    expect(down[0]!.effectiveAt).toBeGreaterThan(at("1998-03-01"));
  });

  it("a refund is booked on the purchase's day, so it leaves the window with it", () => {
    // Monthly evaluations, no grace: a wrongly booked refund would cost Gold on 1998-03-01.
    const config = (
      validateTierConfig({ ...cfg, graceDays: 0, evaluation: { mode: "anniversary", periodMonths: 1 } }) as {
        ok: true;
        config: TierConfig;
      }
    ).config;
    const p = new MemoryPartition(config);
    p.run([
      input("a", "purchase", "1997-01-05", 8_000, "old"),
      input("a", "purchase", "1997-09-01", 25_000, "new"),
    ]);
    expect(p.tier("a")).toBe("Gold");
    // Refunding the old order in Feb 1998: it already left the window (Jan 1998), so the
    // refund changes nothing.
    p.run([input("a", "refund", "1998-02-01", 8_000, "old")]);
    expect(p.records.get("a")!.state.windowSum).toBe(25_000);
    p.run([tickAt("1998-03-02")]);
    expect(p.changes.filter((c) => c.direction === "down")).toEqual([]);
    // The same refund of the new order is booked on 1997-09-01 and costs Gold at the next evaluation.
    p.run([input("a", "refund", "1998-03-05", 8_000, "new"), tickAt("1998-04-02")]);
    expect(p.changes.filter((c) => c.direction === "down").map((c) => c.evaluationDate)).toEqual([
      at("1998-04-01"),
    ]);
  });

  it("a cancellation removes the order for the orders metric", () => {
    const v = validateTierConfig({
      metric: "orders",
      tiers: [
        { name: "Member", threshold: 0 },
        { name: "Regular", threshold: 3 },
      ],
      graceDays: 0,
    });
    if (!v.ok) throw new Error("config");
    const p = new MemoryPartition(v.config);
    p.run([
      input("a", "purchase", "1997-01-01", 100, "o1"),
      input("a", "purchase", "1997-01-02", 100, "o2"),
      input("a", "purchase", "1997-01-03", 100, "o3"),
    ]);
    expect(p.tier("a")).toBe("Regular");
    p.run([input("a", "cancellation", "1997-01-04", 100, "o3")]);
    expect(p.records.get("a")!.state.windowSum).toBe(2);
    p.run([input("a", "refund", "1997-01-05", 40, "o2")]); // partial: still an order
    expect(p.records.get("a")!.state.windowSum).toBe(2);
    p.run([tickAt("1998-01-03T00:00:01Z")]);
    expect(p.tier("a")).toBe("Member");
  });

  it("a refund of an order never seen changes nothing", () => {
    const p = new MemoryPartition(cfg);
    p.run([
      input("a", "purchase", "1997-01-05", 30_000, "o1"),
      input("a", "refund", "1997-01-06", 30_000, "nope"),
    ]);
    expect(p.records.get("a")!.state.windowSum).toBe(30_000);
  });
});

describe("points metric: redemptions never demote", () => {
  const v = validateTierConfig({
    metric: "points",
    tiers: [
      { name: "Member", threshold: 0 },
      { name: "Silver", threshold: 100 },
      { name: "Gold", threshold: 250 },
    ],
  });
  if (!v.ok) throw new Error("config");
  const points = v.config;

  it("spending every point keeps the tier through its evaluation", () => {
    const p = new MemoryPartition(points);
    p.run([input("a", "points-earned", "1997-01-10", 300, "o1")]);
    expect(p.tier("a")).toBe("Gold");
    // REDEEMED movements reach the evaluator as inputs without a qualifying kind.
    p.run([input("a", null, "1997-02-01", 300), input("a", null, "1997-03-01", 0)]);
    expect(p.records.get("a")!.state.windowSum).toBe(300);
    p.run([input("a", "points-earned", "1997-12-20", 260, "o2"), tickAt("1998-03-01")]);
    expect(p.changes.filter((c) => c.direction === "down")).toEqual([]);
    expect(p.tier("a")).toBe("Gold");
  });

  it("reversed points count against the metric", () => {
    const p = new MemoryPartition(points);
    p.run([
      input("a", "points-earned", "1997-01-10", 300, "o1"),
      input("a", "points-reversed", "1997-01-11", 100, "o1"),
    ]);
    expect(p.records.get("a")!.state.windowSum).toBe(200);
    expect(p.tier("a")).toBe("Gold");
  });
});

describe("determinism", () => {
  function stream(seed: number, n: number) {
    let s = seed;
    const rnd = () => {
      s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
      return s / 2_147_483_648;
    };
    const out = [];
    let t = at("1997-01-01");
    const orders: Array<[string, string, number]> = [];
    for (let i = 0; i < n; i++) {
      t += Math.floor(rnd() * 3 * DAY_MS);
      const m = `m${Math.floor(rnd() * 40)}`;
      const r = rnd();
      if (r < 0.08 && orders.length > 0) {
        const [who, order, amount] = orders[Math.floor(rnd() * orders.length)]!;
        out.push(input(who, r < 0.04 ? "refund" : "cancellation", t, Math.ceil(amount / 2), order));
      } else {
        const amount = Math.floor(rnd() * 20_000);
        const x = input(m, "purchase", t, amount);
        orders.push([m, x.orderId!, amount]);
        out.push(x);
      }
      // An occasional redelivery of an earlier input.
      if (rnd() < 0.03) out.push(out[Math.floor(rnd() * out.length)]!);
    }
    return out;
  }

  it("gives the same changes whatever the batch boundaries", () => {
    const inputs = stream(42, 1500);
    const whole = new MemoryPartition(cfg).run(inputs);
    expect(whole.some((c) => c.direction === "down")).toBe(true);
    expect(whole.some((c) => c.reason === "grace-expired")).toBe(true);
    for (const sizes of [[1], [7], [100, 3, 250], [999]]) {
      expect(new MemoryPartition(cfg).run(inputs, sizes)).toEqual(whole);
    }
  });

  it("a replayed batch (already processed) changes nothing", () => {
    const inputs = stream(7, 400);
    const p = new MemoryPartition(cfg);
    p.run(inputs.slice(0, 200));
    const before = p.changes.length;
    const snapshot = JSON.stringify([...p.records]);
    p.batch(inputs.slice(100, 200));
    expect(p.changes.length).toBe(before);
    expect(JSON.stringify([...p.records])).toBe(snapshot);
    p.run(inputs.slice(200));
    expect(p.changes).toEqual(new MemoryPartition(cfg).run(inputs));
  });
});

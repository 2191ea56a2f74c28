// The churn join's decision per batch (src/topology.ts `decide`), pure: which purchases wait for
// churn-alert's frontier, what the batch's markers move it to, and that alerts go first.
import type { ConsumedMessage } from "@loyalty/stream-runtime";
import { describe, expect, it } from "vitest";
import type { EngineEvent } from "../src/engine/process.ts";
import type { FrontierMark } from "../src/pipeline.ts";
import { decide } from "../src/topology.ts";

const rec = (topic: string, offset: number): ConsumedMessage => ({
  topic,
  partition: 0,
  offset: String(offset),
  key: null,
  value: null,
  headers: {},
  timestamp: 0,
});
const purchase = (id: string, t: number, offset: number) => ({
  record: rec("purchases", offset),
  value: { kind: "purchase", event: { eventId: id, memberId: "m1", eventTime: t } } as unknown as EngineEvent,
});
const alert = (id: string, t: number, offset: number) => ({
  record: rec("alerts", offset),
  value: { kind: "churn", event: { eventId: id, memberId: "m1", eventTime: t } } as unknown as EngineEvent,
});
const marker = (t: number, offset: number) => ({
  record: rec("alerts", offset),
  value: { kind: "frontier", partition: 0, time: t } as FrontierMark,
});
const opts = { join: true, release: false, readsChurn: () => true, purchases: "purchases" };
const ids = (events: EngineEvent[]) => events.map((e) => e.event.eventId);

describe("the churn join's decision", () => {
  it("holds the first purchase past the frontier and every purchase after it", () => {
    const d = decide([purchase("p1", 10, 0), purchase("p2", 30, 1), purchase("p3", 20, 2)], 15, opts);
    expect(ids(d.events)).toEqual(["p1"]);
    expect(d.hold.map((r) => r.offset)).toEqual(["1", "2"]);
    expect(d.frontier).toBe(15);
    expect(d.late).toBe(0);
  });

  it("moves the frontier by the batch's markers and prices alerts before purchases", () => {
    const d = decide(
      [purchase("p1", 10, 0), alert("a1", 25, 0), marker(40, 1), purchase("p2", 30, 1)],
      5,
      opts,
    );
    expect(d.frontier).toBe(40);
    expect(ids(d.events)).toEqual(["a1", "p1", "p2"]);
    expect(d.hold).toEqual([]);
  });

  it("waits for nothing when the rule set in force does not read churn facts, or the join is off", () => {
    const input = [purchase("p1", 10, 0), purchase("p2", 30, 1)];
    expect(decide(input, 5, { ...opts, readsChurn: (t) => t > 100 }).hold).toEqual([]);
    expect(decide(input, 5, { ...opts, readsChurn: (t) => t >= 20 }).hold.map((r) => r.offset)).toEqual([
      "1",
    ]);
    expect(decide(input, 5, { ...opts, join: false }).hold).toEqual([]);
  });

  it("past the maximum wait prices everything and counts the purchases the frontier had not reached", () => {
    const d = decide([purchase("p1", 10, 0), purchase("p2", 30, 1), alert("a1", 40, 0)], 15, {
      ...opts,
      release: true,
    });
    expect(ids(d.events)).toEqual(["a1", "p1", "p2"]);
    expect(d.hold).toEqual([]);
    expect(d.late).toBe(1);
  });
});

import type { PoolClient } from "@loyalty/db";
import { describe, expect, it } from "vitest";
import { type MemberRow, newMemberRow } from "../../src/engine/member.ts";
import { DAY_MS, applyEvents } from "../../src/model/index.ts";
import { MemberMemory } from "../../src/store/member-memory.ts";
import { type IncomingEvent, summaryOf } from "../../src/store/members.ts";

const t0 = Date.UTC(1997, 0, 1);
const member = (id: string, days: number[], dueAt: number | null = null): MemberRow => {
  const row = newMemberRow(id, "UTC");
  const state = applyEvents(
    row.state,
    days.map((d) => ({
      type: "purchase" as const,
      eventId: `${id}-e${d}`,
      orderId: `${id}-o${d}`,
      eventTime: t0 + d * DAY_MS,
      amountMinor: 1000 + d,
    })),
  );
  return { ...row, state, lastEventTime: days.length ? t0 + Math.max(...days) * DAY_MS : null, dueAt };
};

/** A "database" of member rows and events that counts its full reads. */
function store(initial: MemberRow[], events: IncomingEvent[] = []) {
  const rows = new Map(initial.map((m) => [m.memberId, m]));
  const db = { loads: 0, rows, afters: [] as (number | null)[] };
  const memory = new MemberMemory({
    members: async () => {
      db.loads++;
      return new Map(rows);
    },
    eventsAfter: async (_c, after) => {
      db.afters.push(after);
      return events.filter((e) => after === null || e.time > after);
    },
  });
  return { db, memory };
}
const at = (generation: number, frontier: number | null = null) => ({ generation, frontier });
const purchase = (memberId: string, eventId: string, time: number): IncomingEvent => ({
  eventId,
  memberId,
  time,
  event: { type: "purchase", eventId, orderId: `o-${eventId}`, eventTime: time, amountMinor: 100 },
});
const c = {} as PoolClient;
const ids = (rows: { memberId: string }[]) => rows.map((r) => r.memberId);

describe("MemberMemory", () => {
  it("reads the tables once, then follows the members each committed step changes", async () => {
    const { db, memory } = store([member("m2", [0, 5], t0 + 40 * DAY_MS), member("m1", [1])]);
    await memory.begin(c, at(0));
    expect(ids(memory.allSummaries())).toEqual(["m1", "m2"]);
    expect(memory.dueUpTo(t0 + 40 * DAY_MS, false)).toEqual([]);
    expect(memory.dueUpTo(t0 + 40 * DAY_MS, true)).toEqual(["m2"]);
    const m3 = member("m3", [2, 9]);
    const m1 = member("m1", [1, 4], t0 + 30 * DAY_MS);
    memory.put(m3);
    memory.put(m1);
    memory.put(member("m4", [])); // no purchase day: no summary
    const changed = memory.changes();
    expect(ids(changed.members)).toEqual(["m3", "m1", "m4"]);
    expect(changed.dues).toEqual(new Map([["m1", t0 + 30 * DAY_MS]]));
    memory.committed(1);
    await memory.begin(c, at(1));
    expect(db.loads).toBe(1);
    expect(memory.changes()).toEqual({ members: [], dues: new Map() });
    expect(memory.allSummaries()).toEqual([summaryOf(m1), summaryOf(member("m2", [0, 5])), summaryOf(m3)]);
    expect(memory.get("m1")).toBe(m1);
  });

  it("writes back only members that changed, and a refit's due times as moves", async () => {
    const m1 = member("m1", [1, 3], t0 + 20 * DAY_MS);
    const m2 = member("m2", [0, 5], t0 + 40 * DAY_MS);
    const { memory } = store([m1, m2, member("m3", [2, 6])]);
    await memory.begin(c, at(7));
    memory.put({ ...m1 }); // same columns, same due time: nothing to write
    memory.replaceDues(
      new Map([
        ["m2", t0 + 40 * DAY_MS],
        ["m3", t0 + 50 * DAY_MS],
      ]),
    );
    const changed = memory.changes();
    expect(changed.members).toEqual([]);
    expect(changed.dues).toEqual(
      new Map([
        ["m1", null],
        ["m3", t0 + 50 * DAY_MS],
      ]),
    );
    expect(memory.get("m1")?.dueAt).toBeNull();
    expect(memory.get("m3")?.dueAt).toBe(t0 + 50 * DAY_MS);
    expect(memory.dueUpTo(t0 + 60 * DAY_MS, true).sort()).toEqual(["m2", "m3"]);
  });

  it("reads again after a step that did not commit, or a step of another instance", async () => {
    const { db, memory } = store([member("m1", [1])]);
    await memory.begin(c, at(3));
    memory.put(member("m9", [0])); // this transaction rolls back: no committed()
    await memory.begin(c, at(3));
    expect(ids(memory.allSummaries())).toEqual(["m1"]);
    expect(memory.get("m9")).toBeUndefined();
    expect(db.loads).toBe(2);
    memory.committed(4);
    db.rows.set("m8", member("m8", [3])); // another instance's step: generation 5
    await memory.begin(c, at(5));
    expect(ids(memory.allSummaries())).toEqual(["m1", "m8"]);
    expect(db.loads).toBe(3);
  });

  it("holds the events after the frontier and hands them out by member, in (time, id) order", async () => {
    const { db, memory } = store([], [purchase("m1", "e1", t0), purchase("m2", "e2", t0 + 5)]);
    await memory.begin(c, at(2, t0));
    expect(db.afters).toEqual([t0]);
    memory.received([
      purchase("m1", "e4", t0 + 7),
      purchase("m1", "e3", t0 + 7),
      purchase("m1", "e0", t0 + 9),
    ]);
    expect(memory.earliestPending()).toBe(t0 + 5);
    expect(memory.takeEvents(t0 + 5, false)).toEqual(new Map());
    const taken = memory.takeEvents(t0 + 7, true);
    expect([...taken.keys()].sort()).toEqual(["m1", "m2"]);
    expect(taken.get("m1")?.map((e) => e.id)).toEqual(["e3", "e4"]);
    expect(memory.earliestPending()).toBe(t0 + 9);
    expect(
      memory
        .takeEvents(t0 + 9, true)
        .get("m1")
        ?.map((e) => e.id),
    ).toEqual(["e0"]);
    expect(memory.earliestPending()).toBeNull();
  });

  it("keeps a summary the way the table gives it back", () => {
    const s = summaryOf(member("m1", [0, 7]));
    expect(s).toMatchObject({ memberId: "m1", x: 1, purchaseDays: 2, totalMinor: 2007, repeatMinor: 1007 });
    expect(s?.lastPurchaseAt).toBe(t0 + 7 * DAY_MS);
    expect(summaryOf(member("m2", []))).toBeNull();
  });
});

import type { PoolClient } from "@loyalty/db";
import { describe, expect, it } from "vitest";
import { type MemberRow, newMemberRow } from "../../src/engine/member.ts";
import { DAY_MS, applyEvents } from "../../src/model/index.ts";
import { type SummaryRow, summaryOf } from "../../src/store/members.ts";
import { SummaryCache } from "../../src/store/summary-cache.ts";

const t0 = Date.UTC(1997, 0, 1);
const member = (id: string, days: number[]): MemberRow => {
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
  return { ...row, state, lastEventTime: days.length ? t0 + Math.max(...days) * DAY_MS : null };
};
const summary = (id: string, days: number[]): SummaryRow => summaryOf(member(id, days))!;

/** A "database" of summaries that counts its full reads. */
function store(initial: SummaryRow[]) {
  const rows = new Map(initial.map((s) => [s.memberId, s]));
  const db = { loads: 0, rows };
  const cache = new SummaryCache(async () => {
    db.loads++;
    return [...rows.values()];
  });
  return { db, cache };
}
const c = {} as PoolClient;
const ids = (rows: SummaryRow[]) => rows.map((r) => r.memberId);

describe("SummaryCache", () => {
  it("reads the table once, then follows the members each committed step saves", async () => {
    const { db, cache } = store([summary("m2", [0, 5]), summary("m1", [1])]);
    cache.begin(0);
    expect(ids(await cache.all(c))).toEqual(["m1", "m2"]);
    const m3 = member("m3", [2, 9]);
    const m1 = member("m1", [1, 4]);
    cache.saved([m3, m1, member("m4", [])]); // m4 has no purchase day: not a summary
    cache.committed(1);
    cache.begin(1);
    const all = await cache.all(c);
    expect(db.loads).toBe(1);
    expect(all).toEqual([summaryOf(m1), summary("m2", [0, 5]), summaryOf(m3)]);
  });

  it("reads again after a step that did not commit, or a step of another instance", async () => {
    const { db, cache } = store([summary("m1", [1])]);
    cache.begin(3);
    await cache.all(c);
    cache.saved([member("m9", [0])]); // this transaction rolls back: no committed()
    cache.begin(3);
    expect(ids(await cache.all(c))).toEqual(["m1"]);
    expect(db.loads).toBe(2);
    cache.committed(4);
    db.rows.set("m8", summary("m8", [3])); // another instance's step: generation 5
    cache.begin(5);
    expect(ids(await cache.all(c))).toEqual(["m1", "m8"]);
    expect(db.loads).toBe(3);
  });

  it("stores a summary the way the table gives it back", () => {
    const s = summary("m1", [0, 7]);
    expect(s).toMatchObject({ memberId: "m1", x: 1, purchaseDays: 2, totalMinor: 2007, repeatMinor: 1007 });
    expect(s.lastPurchaseAt).toBe(t0 + 7 * DAY_MS);
    expect(summaryOf(member("m2", []))).toBeNull();
  });
});

// CDNOW_master.txt (69,659 purchases, 23,570 members, Jan 1997 - Jun 1998) replayed through the
// tier evaluator twice into fresh namespaces with different batch sizes: byte-identical
// loyalty.tiers.v1 content, equal to the policy applied member by member (every downgrade that
// living through those months would have produced). The SIGKILL case is cdnow-crash.int.test.ts.
import type { PurchaseEvent } from "@loyalty/contracts";
import { type TestStack, requireStack } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTierStats } from "../src/stats.ts";
import {
  type Engine,
  cdnowPurchases,
  expectedChanges,
  groupByMember,
  perMember,
  replayInto,
} from "./support.ts";

let stack: TestStack;
let events: PurchaseEvent[];
const engines: Engine[] = [];
const replay = async (batch: string) => {
  const r = await replayInto(stack, events, batch);
  engines.push(r.engine);
  return r;
};

beforeAll(async () => {
  stack = await requireStack();
  events = cdnowPurchases();
});
afterAll(async () => {
  for (const e of engines) await e.close();
});

describe("replaying CDNOW_master.txt", () => {
  it("twice, with different batch sizes, gives identical loyalty.tiers.v1 content: the policy's own answer", async () => {
    expect(events).toHaveLength(69_659);
    expect(new Set(events.map((e) => e.memberId)).size).toBe(23_570);

    const a = await replay("2000");
    const b = await replay("1000");
    console.log(
      `CDNOW replay: ${a.msgs.length} tier changes; ${a.elapsedMs} ms (batch 2000), ${b.elapsedMs} ms (batch 1000)`,
    );
    expect(a.msgs.length).toBeGreaterThan(1000);
    expect(perMember(b.msgs)).toEqual(perMember(a.msgs));

    // Content: the policy applied to each member's own events, in event time.
    const decoded = await a.engine.decodeTiers(a.msgs);
    expect(groupByMember(decoded)).toEqual(await expectedChanges(a.engine, events));
    const downs = decoded.filter((d) => d.direction === "DOWN");
    expect(downs.length).toBeGreaterThan(100);
    expect(downs.every((d) => d.reason === "GRACE_EXPIRED" && d.evaluationDate !== null)).toBe(true);
    // Records are timestamped with the effective time.
    expect(a.msgs.every((m, i) => Number(m.timestamp) === decoded[i]!.effectiveAt)).toBe(true);

    // The tiers held in PostgreSQL are the last ones published.
    const last = new Map<string, string>();
    for (const d of decoded) last.set(d.memberId, d.toTier);
    const held = await a.engine.pool.query<{ member_id: string; tier: string }>(
      "select member_id, tier from tier_members",
    );
    expect(held.rows).toHaveLength(23_570);
    expect(held.rows.every((r) => r.tier === (last.get(r.member_id) ?? "Member"))).toBe(true);

    // The distribution (what `loyalty tiers stats` prints: apps/cli tests it), at the end and at 1997-09-30.
    const end = await readTierStats(a.engine.pool);
    const sept = await readTierStats(a.engine.pool, Date.UTC(1997, 8, 30, 23, 59, 59, 999));
    console.log(
      `tiers at the end of the replay (${new Date(end.at).toISOString()}): ${JSON.stringify(end.counts)}`,
    );
    console.log(
      `tiers at 1997-09-30 (end of day): ${JSON.stringify(sept.counts)}, not yet joined ${sept.notJoined}`,
    );
    const sum = (r: typeof end) => Object.values(r.counts).reduce((s, n) => s + n, 0);
    expect(sum(end) + end.unknown).toBe(23_570);
    expect(end.notJoined).toBe(0);
    expect(sum(sept) + sept.unknown + sept.notJoined).toBe(23_570);
    // At 1997-09-30 the recorded history answers: the last change effective by then.
    const atSept = new Map<string, string>();
    for (const d of decoded) if (d.effectiveAt <= sept.at) atSept.set(d.memberId, d.toTier);
    const joined = new Set(events.filter((e) => e.eventTime <= sept.at).map((e) => e.memberId));
    const want: Record<string, number> = { Member: 0, Silver: 0, Gold: 0, Platinum: 0 };
    for (const m of joined) want[atSept.get(m) ?? "Member"]! += 1;
    expect(sept.counts).toEqual(want);
  }, 600_000);
});

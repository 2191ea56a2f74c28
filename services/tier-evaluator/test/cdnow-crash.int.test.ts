// CDNOW_master.txt replayed with a SIGKILL part-way and a restart: the same loyalty.tiers.v1
// content as an uninterrupted run (the policy's own answer, which cdnow.int.test.ts shows two
// uninterrupted replays give byte for byte): nothing lost, nothing twice (read_committed).
import type { PurchaseEvent } from "@loyalty/contracts";
import { type TestStack, requireStack } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, cdnowPurchases, expectedChanges, groupByMember, replayInto } from "./support.ts";

let stack: TestStack;
let events: PurchaseEvent[];
let engine: Engine | undefined;

beforeAll(async () => {
  stack = await requireStack();
  events = cdnowPurchases();
});
afterAll(async () => {
  await engine?.close();
});

describe("a CDNOW replay SIGKILLed part-way and restarted", () => {
  it("publishes exactly the tier changes of an uninterrupted run", async () => {
    const run = await replayInto(stack, events, "500", 30_000);
    engine = run.engine;
    console.log(
      `CDNOW replay with SIGKILL after ${run.killedAt} applied inputs: ${run.msgs.length} tier changes, ${run.elapsedMs} ms`,
    );
    expect(run.killedAt).toBeGreaterThanOrEqual(30_000);
    expect(run.killedAt).toBeLessThan(events.length);
    const decoded = await run.engine.decodeTiers(run.msgs);
    expect(new Set(decoded.map((d) => d.eventId)).size).toBe(decoded.length);
    expect(groupByMember(decoded)).toEqual(await expectedChanges(run.engine, events));
  }, 420_000);
});

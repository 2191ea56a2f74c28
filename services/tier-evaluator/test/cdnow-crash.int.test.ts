// CDNOW_master.txt replayed with a SIGKILL part-way and a restart: the same loyalty.tiers.v1
// content as an uninterrupted run (the policy's own answer, which cdnow.int.test.ts shows two
// uninterrupted replays give byte for byte): nothing lost, nothing twice (read_committed).
// Killed at a moment of the test's choosing, and by the service itself between a batch's
// PostgreSQL commit and its Kafka commit (the runtime re-sends that batch's output: ADR 16).
import type { PurchaseEvent } from "@loyalty/contracts";
import { type TestStack, requireStack } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Engine,
  type Interruption,
  cdnowPurchases,
  expectedChanges,
  groupByMember,
  replayInto,
} from "./support.ts";

let stack: TestStack;
let events: PurchaseEvent[];
const engines: Engine[] = [];

beforeAll(async () => {
  stack = await requireStack();
  events = cdnowPurchases();
});
afterAll(async () => {
  for (const e of engines) await e.close();
});

async function interrupted(how: Interruption) {
  const run = await replayInto(stack, events, "500", how);
  engines.push(run.engine);
  console.log(
    `CDNOW replay interrupted (${JSON.stringify(how)}) with ${run.killedAt} inputs applied, ${run.kafkaAtKill} committed in Kafka: ${run.msgs.length} tier changes, ${run.elapsedMs} ms`,
  );
  expect(run.killedAt).toBeLessThan(events.length);
  const decoded = await run.engine.decodeTiers(run.msgs);
  expect(new Set(decoded.map((d) => d.eventId)).size).toBe(decoded.length);
  expect(groupByMember(decoded)).toEqual(await expectedChanges(run.engine, events));
  return run;
}

describe("a CDNOW replay SIGKILLed part-way and restarted", () => {
  it("publishes exactly the tier changes of an uninterrupted run", async () => {
    const run = await interrupted({ killAfterApplied: 30_000 });
    expect(run.killedAt).toBeGreaterThanOrEqual(30_000);
  }, 420_000);

  it("killed between a batch's PostgreSQL and Kafka commits: the batch's output is re-sent once", async () => {
    // The second of at least four batches (a pre-loaded replay at 1 MiB per partition per batch;
    // on @confluentinc/kafka-javascript the whole replay can take exactly four, ADR 15).
    const run = await interrupted({ crashAfterCommits: 2 });
    // PostgreSQL was a batch ahead of Kafka when the process died.
    expect(run.killedAt).toBeGreaterThan(run.kafkaAtKill ?? 0);
  }, 420_000);
});

// The engine never publishes a rule set (only the `publisher` principal may write
// loyalty.rules.v1). Started on an empty rules topic, it prices nothing and commits nothing
// until a rule set is published; then every purchase read meanwhile is priced, none lost.
import { setTimeout as sleep } from "node:timers/promises";
import { namespacedTopics } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Inputs, REPO, cdnowPurchases, startService, stopService, waitFor } from "./harness.ts";

let stack: TestStack;
let pool: Pool;
const ns = testNamespace();

const count = async (sql: string) => (await pool.query<{ n: number }>(sql)).rows[0]?.n ?? 0;

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
});
afterAll(async () => {
  await pool?.end();
});

describe("a rules engine on an empty rules topic", () => {
  it("waits for a publication, writes nothing to the rules topic, then prices every purchase", async () => {
    const inputs = new Inputs(stack, ns);
    await inputs.prepare();
    // RULES_BOOTSTRAP_DIR="": the harness publishes nothing before the engine starts.
    const svc = await startService(stack, ns, { RULES_BOOTSTRAP_DIR: "" });
    try {
      const input = cdnowPurchases(60);
      await inputs.produce(inputs.topics.purchases, input);
      // Long enough for the engine to have read the purchases (its first batch waits for rules).
      await sleep(8000);
      expect(svc.exitCode).toBeNull();
      expect(await count("select count(*)::int as n from rules_priced_events")).toBe(0);
      expect(await count("select count(*)::int as n from ledger_entries")).toBe(0);
      expect(await count("select count(*)::int as n from rule_sets")).toBe(0);

      await inputs.publishRuleSet(`${REPO}rules/standard`);
      await waitFor(
        "every purchase priced",
        () => count("select count(*)::int as n from rules_priced_events"),
        (n) => n >= input.length,
      );
      expect(await count("select count(*)::int as n from rules_priced_events")).toBe(input.length);
      expect(await count("select count(*)::int as n from ledger_entries")).toBeGreaterThan(0);
      // The only record on the rules topic is the one published above: the engine wrote none.
      const onTopic = await readTopic(
        testKafka(stack.kafkaBrokers),
        namespacedTopics(ns).rules.name,
        (m) => m.length >= 1,
        30_000,
        2000,
      );
      expect(onTopic).toHaveLength(1);
    } finally {
      expect(await stopService(svc)).toBe(0);
    }
  });
});

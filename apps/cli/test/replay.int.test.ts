// loyalty replay: what lands on the namespace's orders topic, from a file and from stdin.
import { namespacedTopics } from "@loyalty/contracts";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { cli, cliProcess, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

describe("loyalty replay", () => {
  it("publishes the first N CDNOW orders, keyed by customer, stamped with their order time", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    expect((await cli(["migrate"], env)).code).toBe(0);
    const r = await cli(["replay", "data/cdnow/CDNOW_sample.txt", "--limit", "40", "--json"], env);
    expect(r.code).toBe(0);
    const topic = namespacedTopics(ns).orders.name;
    expect(JSON.parse(r.stdout)).toMatchObject({ topic, sent: 40 });
    const msgs = await readTopic(testKafka(stack.kafkaBrokers), topic, (m) => m.length >= 40);
    expect(msgs).toHaveLength(40);
    for (const m of msgs) {
      const order = JSON.parse(m.value?.toString() ?? "") as {
        customerId: string;
        occurredAt: number | string;
      };
      expect(m.key?.toString()).toBe(order.customerId);
      expect(Number(m.timestamp)).toBe(new Date(order.occurredAt).getTime());
    }
  });

  it("`-` reads JSON Lines from standard input (the live-order hint) and sends them as written", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    expect((await cli(["migrate"], env)).code).toBe(0);
    const order = {
      source: "pos",
      type: "ORDER_PLACED",
      orderId: "o-stdin",
      customerId: "c-stdin",
      occurredAt: "1998-07-01T12:00:00Z",
      currency: "USD",
      totalMinor: 2500,
      lines: [],
    };
    const r = await cliProcess(["replay", "-", "--format", "jsonl", "--quiet"], {
      env,
      input: `${JSON.stringify(order)}\n`,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const msgs = await readTopic(
      testKafka(stack.kafkaBrokers),
      namespacedTopics(ns).orders.name,
      (m) => m.length >= 1,
    );
    expect(msgs).toHaveLength(1);
    expect(JSON.parse(msgs[0]?.value?.toString() ?? "")).toEqual(order);
    expect(msgs[0]?.key?.toString()).toBe("c-stdin");
  });
});

import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AvroCodec, type PurchaseEvent, SOURCE_HEADER, namespacedTopics } from "@loyalty/contracts";
import {
  type RunningService,
  type TestStack,
  kcatSecurityArgs,
  readTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
  const probe = spawnSync("kcat", ["-V"], { encoding: "utf8" });
  if (probe.error)
    throw new Error(
      "kcat is not installed: run `bash infra/bin/bootstrap` (it installs the Debian package) or `apt-get install kcat`",
    );
});
afterAll(async () => {
  await svc?.stop();
});

describe("an upstream system using kcat", () => {
  it("publishes plain JSON orders that come out as canonical purchases", async () => {
    const ns = testNamespace();
    const topics = namespacedTopics(ns);
    svc = await spawnService(MAIN, serviceEnv(stack, ns, { SERVICE_NAME: "ingestor" }));

    const order = (id: string, customer: string, totalMinor: number, at: string) => ({
      source: "pos-kcat",
      type: "ORDER_PLACED",
      orderId: id,
      customerId: customer,
      occurredAt: at,
      currency: "USD",
      totalMinor,
      lines: [
        {
          lineId: "1",
          sku: "TEA-01",
          category: "tea",
          quantity: 2,
          unitPriceMinor: 450,
          lineTotalMinor: 900,
        },
        {
          lineId: "2",
          sku: "MUG-07",
          category: "homeware",
          quantity: 1,
          unitPriceMinor: totalMinor - 900,
          lineTotalMinor: totalMinor - 900,
        },
      ],
      channel: "store",
      storeId: "berlin-3",
    });
    const refundFirst = {
      source: "pos-kcat",
      type: "ORDER_REFUNDED",
      orderId: "K-3",
      refundId: "R-1",
      customerId: "c-2",
      occurredAt: "2026-11-02T10:00:00Z",
      currency: "USD",
      totalMinor: 900,
      refundedLineIds: ["1"],
    };
    const lines = [
      `c-1\t${JSON.stringify(order("K-1", "c-1", 2400, "2026-11-01T09:30:00+01:00"))}`,
      `c-1\t${JSON.stringify(order("K-2", "c-1", 1500, "2026-11-01T12:00:00Z"))}`,
      // A refund that arrives before its order is held, then released when the order comes.
      `c-2\t${JSON.stringify(refundFirst)}`,
      `c-2\t${JSON.stringify(order("K-3", "c-2", 3000, "2026-11-01T15:00:00Z"))}`,
      `c-1\t${JSON.stringify(order("K-1", "c-1", 2400, "2026-11-01T09:30:00+01:00"))}`, // upstream retry
    ];
    execFileSync(
      "kcat",
      [
        "-P",
        "-b",
        stack.kafkaBrokers.join(","),
        // As an upstream system: the principal that may write orders.v1 and members.v1.
        ...kcatSecurityArgs("upstream"),
        "-t",
        topics.orders.name,
        "-K",
        "\t",
        "-p",
        "0",
      ],
      { input: `${lines.join("\n")}\n` },
    );

    const kafka = testKafka(stack.kafkaBrokers);
    const out = await readTopic(kafka, topics.purchases.name, (ms) => ms.length >= 4, 60_000);
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const events = await Promise.all(out.map((m) => codec.decode<PurchaseEvent>(m.value!)));
    // Order holds per member (one partition each), not across members.
    const byMember = (id: string) =>
      events.filter((e) => e.memberId === id).map((e) => [e.type, e.orderId, e.baseAmountMinor]);
    expect(events).toHaveLength(4);
    expect(byMember("c-1")).toEqual([
      ["PURCHASE", "K-1", 2400],
      ["PURCHASE", "K-2", 1500],
    ]);
    expect(byMember("c-2")).toEqual([
      ["PURCHASE", "K-3", 3000],
      ["REFUND", "K-3", 900],
    ]);
    const k1 = events.find((e) => e.orderId === "K-1")!;
    expect(k1.eventTime).toBe(Date.parse("2026-11-01T08:30:00Z"));
    expect(k1.lines.map((l) => l.category)).toEqual(["tea", "homeware"]);
    expect(events.find((e) => e.type === "REFUND")!.refundedLineIds).toEqual(["1"]);
    expect(out.every((m, i) => m.key?.toString() === events[i]!.memberId)).toBe(true);
    // Each names the orders partition it came from, the released refund too (it comes out with
    // its order, in that partition's order).
    expect(out.map((m) => m.headers?.[SOURCE_HEADER]?.toString())).toEqual(
      out.map(() => `${topics.orders.name}/0`),
    );
  }, 180_000);
});

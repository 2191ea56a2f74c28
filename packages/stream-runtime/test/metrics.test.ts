// The runtime's own metrics helpers, read back from the Prometheus text a scrape returns.
import { describe, expect, it } from "vitest";
import { LedgerMetrics, RuntimeMetrics } from "../src/index.ts";

/** The value of the sample `name{...}` carrying exactly these labels, in any order. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)\{(.*)\} (\S+)$/.exec(line);
    if (m?.[1] === name && m[2]!.split(",").sort().join(",") === want) return Number(m[3]);
  }
  return undefined;
}

describe("runtime metrics", () => {
  it("counts produced records per topic, labelled with the service", async () => {
    const m = new RuntimeMetrics("svc-a");
    m.countProduced([{ topic: "a" }, { topic: "b" }, { topic: "a" }]);
    m.countProduced([]);
    const text = await m.registry.metrics();
    expect(value(text, "loyalty_messages_produced_total", { topic: "a", service: "svc-a" })).toBe(2);
    // Failures are exported at 0 before the first one.
    expect(value(text, "loyalty_batch_failures_total", { retriable: "true", service: "svc-a" })).toBe(0);
    expect(value(text, "loyalty_batch_failures_total", { retriable: "false", service: "svc-a" })).toBe(0);
    expect(value(text, "loyalty_messages_produced_total", { topic: "b", service: "svc-a" })).toBe(1);
  });

  it("counts ledger movements and their absolute points by kind", async () => {
    const m = new RuntimeMetrics("svc-b");
    const ledger = new LedgerMetrics(m);
    ledger.count([
      { kind: "EARNED", points: 120 },
      { kind: "EARNED", points: 30 },
      { kind: "REVERSED", points: -30 },
    ]);
    const text = await m.registry.metrics();
    expect(value(text, "loyalty_ledger_movements_total", { kind: "EARNED", service: "svc-b" })).toBe(2);
    expect(value(text, "loyalty_points_total", { kind: "EARNED", service: "svc-b" })).toBe(150);
    expect(value(text, "loyalty_points_total", { kind: "REVERSED", service: "svc-b" })).toBe(30);
  });

  it("gives services their own counters and second histograms in the same registry", async () => {
    const m = new RuntimeMetrics("svc-c");
    m.counter("loyalty_things_total", "Things").inc(3);
    m.histogram("loyalty_thing_seconds", "Thing time", ["k"]).observe({ k: "x" }, 0.02);
    const text = await m.registry.metrics();
    expect(value(text, "loyalty_things_total", { service: "svc-c" })).toBe(3);
    expect(value(text, "loyalty_thing_seconds_bucket", { le: "0.025", k: "x", service: "svc-c" })).toBe(1);
    expect(value(text, "loyalty_thing_seconds_bucket", { le: "0.01", k: "x", service: "svc-c" })).toBe(0);
  });
});

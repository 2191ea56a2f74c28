import { describe, expect, it } from "vitest";
import { type Family, parseExposition, resolveMetric } from "../src/exposition.ts";
import { PromQlError, selectorsOf } from "../src/promql.ts";

const names = (expr: string) => selectorsOf(expr).map((s) => s.metric);

describe("metric names of a PromQL expression", () => {
  it("finds selectors inside functions and aggregations, not their names or label lists", () => {
    expect(
      names(
        'histogram_quantile(0.99, sum by (service, le) (rate(loyalty_batch_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))',
      ),
    ).toEqual(["loyalty_batch_duration_seconds_bucket"]);
    expect(names("sum without (instance) (rate(a_total[5m])) / on (service) group_left (topic) b")).toEqual([
      "a_total",
      "b",
    ]);
    expect(names("count(up == 0) or vector(0)")).toEqual(["up"]);
    expect(names("max by (service) (x offset 5m) and bool y > 1e3")).toEqual(["x", "y"]);
    expect(names("sum(rate(c[1m])) by (code)")).toEqual(["c"]);
  });

  it("reads label matchers, with escapes, and __name__ selectors", () => {
    expect(selectorsOf('m{a="x", b!~"y|z", c=~"q\\"r"}')).toEqual([
      {
        metric: "m",
        matchers: [
          { label: "a", op: "=", value: "x" },
          { label: "b", op: "!~", value: "y|z" },
          { label: "c", op: "=~", value: 'q"r' },
        ],
      },
    ]);
    expect(selectorsOf('{__name__="n", service="api"}')).toEqual([
      { metric: "n", matchers: [{ label: "service", op: "=", value: "api" }] },
    ]);
  });

  it("refuses what it cannot read instead of guessing", () => {
    expect(() => selectorsOf('m{a="x"')).toThrow(PromQlError);
    expect(() => selectorsOf('{service="api"}')).toThrow(PromQlError);
    expect(() => selectorsOf('m{a="x}')).toThrow(PromQlError);
  });
});

describe("the exposition format", () => {
  const text = [
    "# HELP h Time",
    "# TYPE h histogram",
    'h_bucket{le="0.1",service="s"} 1',
    'h_bucket{le="+Inf",service="s"} 2',
    'h_sum{service="s"} 0.3',
    'h_count{service="s"} 2',
    "# TYPE c_total counter",
    'c_total{path="a\\"b,c",service="s"} 7',
    "# TYPE empty_total counter",
  ].join("\n");
  const f: Map<string, Family> = parseExposition(text);

  it("groups a histogram's series under its family and parses quoted labels", () => {
    expect(f.get("h")?.samples.map((s) => s.name)).toEqual(["h_bucket", "h_bucket", "h_sum", "h_count"]);
    expect(f.get("c_total")?.samples[0]).toEqual({
      name: "c_total",
      labels: { path: 'a"b,c', service: "s" },
      value: 7,
    });
    expect(f.get("empty_total")?.samples).toEqual([]);
  });

  it("resolves _bucket/_sum/_count to the histogram, and nothing else", () => {
    expect(resolveMetric(f, "h_bucket")?.name).toBe("h");
    expect(resolveMetric(f, "h_count")?.name).toBe("h");
    expect(resolveMetric(f, "h")).toBeUndefined(); // no series is called that
    expect(resolveMetric(f, "c_total_count")).toBeUndefined();
    expect(resolveMetric(f, "c_total")?.type).toBe("counter");
    expect(resolveMetric(f, "nope")).toBeUndefined();
  });
});

import { describe, expect, it } from "vitest";
import { defaultTierConfig, validateTierConfig } from "../src/index.ts";

const paths = (json: unknown): string[] => {
  const r = validateTierConfig(json);
  return r.ok ? [] : r.errors.map((e) => e.path);
};

describe("validateTierConfig", () => {
  it("accepts the default config (also after a JSON round trip) and returns a fresh copy", () => {
    const r = validateTierConfig(JSON.parse(JSON.stringify(defaultTierConfig)));
    expect(r).toEqual({ ok: true, config: defaultTierConfig });
    if (r.ok) expect(r.config.tiers).not.toBe(defaultTierConfig.tiers);
  });

  it("fills optional fields from the defaults", () => {
    const r = validateTierConfig({
      metric: "points",
      tiers: [
        { name: "Base", threshold: 0 },
        { name: "Elite", threshold: 500 },
      ],
      evaluation: { mode: "calendar", period: "year" },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({
      schemaVersion: 1,
      metric: "points",
      window: { unit: "months", length: 12 },
      evaluation: { mode: "calendar", period: "year" },
      graceDays: 30,
      maxLevelsDown: 1,
    });
    expect(
      validateTierConfig({
        metric: "orders",
        tiers: [{ name: "Only", threshold: 0 }],
        evaluation: { mode: "anniversary" },
      }),
    ).toMatchObject({ ok: true, config: { evaluation: { mode: "anniversary", periodMonths: 12 } } });
  });

  it("reports every error with its path", () => {
    const r = validateTierConfig({
      schemaVersion: 2,
      metric: "balance",
      tiers: [
        { name: "Member", threshold: 5 },
        { name: "Silver", threshold: 100 },
        { name: "Silver", threshold: 50 },
        { name: "", threshold: 1.5, colour: "red" },
      ],
      window: { unit: "weeks", length: 52 },
      evaluation: { mode: "calendar", period: "fortnight" },
      graceDays: -1,
      maxLevelsDown: 0,
      historyLimit: "10",
      gracedays: 30,
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual(
      expect.arrayContaining([
        { path: "$.gracedays", message: "unknown field" },
        { path: "$.schemaVersion", message: "must be 1" },
        { path: "$.metric", message: "must be one of points, spend, orders" },
        { path: "$.tiers[0].threshold", message: "the lowest tier must have threshold 0" },
        { path: "$.tiers[2].name", message: 'duplicate tier name "Silver"' },
        { path: "$.tiers[2].threshold", message: "must be greater than the previous tier's (100)" },
        { path: "$.tiers[3].colour", message: "unknown field" },
        { path: "$.tiers[3].name", message: "must be a non-empty string" },
        { path: "$.tiers[3].threshold", message: "must be an integer" },
        { path: "$.window.unit", message: 'must be "days" or "months"' },
        { path: "$.evaluation.period", message: "must be one of month, quarter, half-year, year" },
        { path: "$.graceDays", message: "must be between 0 and 3660" },
        { path: "$.maxLevelsDown", message: "must be between 1 and 10000" },
        { path: "$.historyLimit", message: "must be an integer" },
      ]),
    );
    expect(r.errors).toHaveLength(14);
  });

  it("requires metric and tiers, and objects where objects are expected", () => {
    expect(paths({})).toEqual(["$.metric", "$.tiers"]);
    expect(paths(null)).toEqual(["$"]);
    expect(paths([])).toEqual(["$"]);
    expect(paths({ metric: "spend", tiers: [] })).toEqual(["$.tiers"]);
    expect(paths({ metric: "spend", tiers: ["Gold"] })).toEqual(["$.tiers[0]"]);
    expect(paths({ ...defaultTierConfig, window: 12 })).toEqual(["$.window"]);
    expect(paths({ ...defaultTierConfig, window: { unit: "days", length: 0 } })).toEqual(["$.window.length"]);
    expect(paths({ ...defaultTierConfig, window: { unit: "months", length: 121 } })).toEqual([
      "$.window.length",
    ]);
    expect(paths({ ...defaultTierConfig, evaluation: { mode: "weekly" } })).toEqual(["$.evaluation.mode"]);
    expect(paths({ ...defaultTierConfig, evaluation: { mode: "anniversary", periodMonths: 0 } })).toEqual([
      "$.evaluation.periodMonths",
    ]);
    expect(paths({ ...defaultTierConfig, evaluation: { mode: "anniversary", period: "year" } })).toEqual([
      "$.evaluation.period",
    ]);
  });
});

// The JSON-path-wise diff of two rule-set versions the console shows (src/diff.ts).
import { describe, expect, it } from "vitest";
import { diffRuleSets } from "../src/diff.ts";

const rule = (id: string, version: number, rate: string, extra: Record<string, unknown> = {}) => ({
  id,
  version,
  status: "active",
  conditions: { all: [{ fact: "order.baseAmountMinor", operator: "greaterThan", value: 0 }] },
  event: { type: "points-per-unit", params: { rate, rounding: "floor" } },
  ...extra,
});

describe("diffRuleSets", () => {
  it("matches rules by id wherever they moved, and names every changed path", () => {
    const v1 = {
      id: "p",
      version: 1,
      description: "one",
      rules: [rule("a", 1, "1"), rule("b", 1, "1"), rule("c", 1, "1")],
    };
    const v2 = {
      id: "p",
      version: 2,
      description: "one",
      rules: [rule("c", 1, "1"), rule("a", 2, "2"), rule("d", 1, "5"), rule("b", 1, "1", { priority: 9 })],
    };
    const d = diffRuleSets(v1, v2);
    expect(d.ruleSet).toEqual([{ path: "$.version", kind: "changed", before: 1, after: 2 }]);
    expect(d.rules.map((r) => [r.ruleId, r.kind, r.from, r.to, r.versionUnchanged])).toEqual([
      ["a", "changed", 1, 2, false],
      ["b", "changed", 1, 1, true],
      ["d", "added", null, 1, false],
    ]);
    expect(d.rules[0]?.changes).toEqual([
      { path: "$.rules[id=a].event.params.rate", kind: "changed", before: "1", after: "2" },
      { path: "$.rules[id=a].version", kind: "changed", before: 1, after: 2 },
    ]);
    expect(d.rules[1]?.changes).toEqual([{ path: "$.rules[id=b].priority", kind: "added", after: 9 }]);
  });

  it("reports removed rules and array elements, and nothing for equal versions", () => {
    const a = { id: "p", version: 1, rules: [rule("a", 1, "1"), rule("z", 1, "1")] };
    const b = structuredClone(a);
    expect(diffRuleSets(a, b)).toEqual({ ruleSet: [], rules: [] });
    const c = { id: "p", version: 1, rules: [rule("a", 2, "1")] };
    (c.rules[0] as { conditions: { all: unknown[] } }).conditions.all.push({
      fact: "member.tier",
      operator: "equal",
      value: "gold",
    });
    const d = diffRuleSets(a, c);
    expect(d.rules.find((r) => r.ruleId === "z")?.kind).toBe("removed");
    expect(d.rules.find((r) => r.ruleId === "a")?.changes[0]).toEqual({
      path: "$.rules[id=a].conditions.all[1]",
      kind: "added",
      after: { fact: "member.tier", operator: "equal", value: "gold" },
    });
  });
});

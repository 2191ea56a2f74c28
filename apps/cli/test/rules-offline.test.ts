import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cdnow } from "@loyalty/datasets";
import { afterEach, describe, expect, it, vi } from "vitest";
import { diffRuleSets, run } from "../src/commands/rules.ts";
import { mustValidate, rule, ruleSet } from "../../../services/rules-engine/test/rules/helpers.ts";

const REPO = new URL("../../../", import.meta.url).pathname;

function capture() {
  const out: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  return out;
}
afterEach(() => {
  vi.restoreAllMocks();
});

describe("loyalty rules (offline commands)", () => {
  it("validate prints every error as `ruleId path problem` and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rules-bad-"));
    const bad = ruleSet([
      rule({ id: "a", priority: 0 }),
      rule({
        id: "b",
        event: { type: "multiplier", params: { factor: "0.5", appliesTo: "base", rounding: "floor" } },
      }),
    ]);
    writeFileSync(join(dir, "ruleset.json"), JSON.stringify(bad));
    const out = capture();
    expect(await run(["validate", dir])).toBe(1);
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out.some((l) => /^a \$\.rules\[0\]\.priority /.test(l))).toBe(true);
    expect(out.some((l) => l.startsWith("b $.rules[1].event"))).toBe(true);
  });

  it("validate accepts the standard programme", async () => {
    capture();
    expect(await run(["validate", `${REPO}rules/standard`])).toBe(0);
  });

  it("simulate prints points per rule, members reached and liability without writing", async () => {
    const out = capture();
    const code = await run([
      "simulate",
      "--rules",
      `${REPO}rules/standard`,
      "--orders",
      cdnow.sample(),
      "--limit",
      "500",
    ]);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/over 500 orders/);
    expect(out.find((l) => l.startsWith("base-points"))).toBeDefined();
    expect(out.at(-1)).toMatch(/^total points \d+; liability \d+\.\d\d USD/);
  });

  it("diff reports added, removed and changed rules", () => {
    const before = mustValidate(ruleSet([rule({ id: "a" }), rule({ id: "b" })]));
    const after = mustValidate(ruleSet([rule({ id: "a", version: 2, priority: 20 }), rule({ id: "c" })], 2));
    const d = diffRuleSets(after, before);
    expect(d.added.map((r) => r.id)).toEqual(["c"]);
    expect(d.removed.map((r) => r.id)).toEqual(["b"]);
    expect(d.changed.map((c) => c.after.id)).toEqual(["a"]);
  });
});

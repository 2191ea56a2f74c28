// The offline rules commands: validate and simulate read files and write nothing; diffRuleSets is
// the comparison `rules diff` prints (the command itself needs the topic: rules.int.test.ts).
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RuleSet, validateRuleSet } from "@loyalty/rules-engine";
import { describe, expect, it } from "vitest";
import { diffRuleSets } from "../src/commands/rules.ts";
import { REPO, cli, cliProcess } from "./helpers.ts";

const STANDARD = join(REPO, "rules/standard");
const standard = () => JSON.parse(readFileSync(join(STANDARD, "ruleset.json"), "utf8")) as RuleSet;

/** A draft folder (ruleset.json + the standard programme.json) holding `ruleSet`. */
function draft(ruleSet: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "loyalty-rules-"));
  cpSync(join(STANDARD, "programme.json"), join(dir, "programme.json"));
  writeFileSync(join(dir, "ruleset.json"), JSON.stringify(ruleSet));
  return dir;
}

function valid(json: unknown): RuleSet {
  const v = validateRuleSet(json);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.ruleSet;
}

const baseOnly = () => {
  const s = standard();
  return { ...s, id: "base-only", rules: s.rules.filter((r) => r.id === "base-points") };
};

describe("rules validate", () => {
  it("accepts the standard programme: exit 0, its id, version and rule count", async () => {
    const r = await cli(["rules", "validate", "rules/standard", "--json"]);
    expect(r.code).toBe(0);
    const s = standard();
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      id: s.id,
      version: s.version,
      rules: s.rules.length,
      errors: [],
    });
  });

  it("lists every error of a bad draft and exits 1 (text: `ruleId path problem`)", async () => {
    const s = standard();
    const bad = {
      ...s,
      rules: [
        { ...s.rules[0], priority: "high" },
        { ...s.rules[1], event: { type: "no-such-award", params: {} } },
      ],
    };
    const dir = draft(bad);
    const text = await cliProcess(["rules", "validate", dir]);
    expect(text.code).toBe(1);
    const lines = text.stdout.trim().split("\n");
    expect(lines.some((l) => l.startsWith(`${s.rules[0]?.id} $.rules[0].priority `))).toBe(true);
    expect(lines.some((l) => l.startsWith(`${s.rules[1]?.id} $.rules[1].event`))).toBe(true);
    expect(text.stderr).toMatch(/ruleset\.json: \d+ error\(s\)/);

    const json = await cli(["rules", "validate", dir, "--json"]);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as { ok: boolean; errors: Array<{ ruleId: string; path: string }> };
    expect(doc.ok).toBe(false);
    expect(doc.errors.map((e) => e.path)).toEqual(expect.arrayContaining(["$.rules[0].priority"]));
    expect(doc.errors.length).toBe(lines.length);
  });

  it("a file that is not JSON is a usage error naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "loyalty-rules-"));
    writeFileSync(join(dir, "ruleset.json"), "{ not json");
    const r = await cli(["rules", "validate", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
  });
});

describe("rules simulate", () => {
  it("prices JSON Lines orders with a draft: 1 point per whole dollar, nothing written", async () => {
    const dir = draft(baseOnly());
    const orders = join(dir, "orders.jsonl");
    const order = (id: string, customer: string, totalMinor: number) =>
      JSON.stringify({
        source: "web",
        type: "ORDER_PLACED",
        orderId: id,
        customerId: customer,
        occurredAt: "1997-03-01T10:00:00Z",
        currency: "USD",
        totalMinor,
        lines: [],
      });
    writeFileSync(
      orders,
      [order("o1", "c1", 2500), order("o2", "c2", 1050), order("o3", "c1", 99)].join("\n"),
    );
    const r = await cli(["rules", "simulate", "--rules", dir, "--orders", orders, "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      events: number;
      totalPoints: number;
      liabilityMinor: number;
      byRule: Array<{ ruleId: string; points: number; membersReached: number; matched: number }>;
    };
    expect(report.events).toBe(3);
    expect(report.totalPoints).toBe(25 + 10 + 0);
    expect(report.liabilityMinor).toBe(35); // a point is worth 1 cent in the standard programme
    const base = report.byRule.find((x) => x.ruleId === "base-points");
    expect(base).toMatchObject({ points: 35, membersReached: 2 });
  });

  it("--limit bounds the orders read from a CDNOW file; the text report ends with the liability", async () => {
    const r = await cli([
      "rules",
      "simulate",
      "--rules",
      "rules/standard",
      "--orders",
      "data/cdnow/CDNOW_sample.txt",
      "--limit",
      "500",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/over 500 orders of \d+ members/);
    expect(r.stdout.trim().split("\n").at(-1)).toMatch(/^total points \d+; liability \d+\.\d\d USD/);
    const json = await cli([
      "rules",
      "simulate",
      "--rules",
      "rules/standard",
      "--orders",
      "data/cdnow/CDNOW_sample.txt",
      "--limit",
      "500",
      "--json",
    ]);
    expect((JSON.parse(json.stdout) as { events: number }).events).toBe(500);
  });

  it("an invalid draft is not simulated: exit 1", async () => {
    const s = standard();
    const dir = draft({ ...s, rules: [{ ...s.rules[0], priority: "high" }] });
    const r = await cli(["rules", "simulate", "--rules", dir, "--orders", "data/cdnow/CDNOW_sample.txt"]);
    expect(r.code).toBe(1);
  });
});

describe("diffRuleSets (what rules diff prints)", () => {
  it("reports added, removed and changed rules", () => {
    const s = valid(standard());
    const [first, second, ...rest] = s.rules;
    if (!first || !second) throw new Error("the standard programme has at least two rules");
    const next = valid({
      ...s,
      version: s.version + 1,
      rules: [{ ...first, version: first.version + 1, priority: first.priority + 1 }, ...rest],
    });
    const d = diffRuleSets(next, s);
    expect(d.added).toEqual([]);
    expect(d.removed.map((r) => r.id)).toEqual([second.id]);
    expect(d.changed.map((c) => c.after.id)).toEqual([first.id]);
    expect(diffRuleSets(s, null).added.map((r) => r.id)).toEqual(s.rules.map((r) => r.id));
  });
});

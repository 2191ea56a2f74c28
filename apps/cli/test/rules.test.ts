// The offline rules commands: validate, simulate and backtest read files and write nothing; diffRuleSets is
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

  it("rejects, with id and path, a fixed award and rates (string or number) over the programme's caps", async () => {
    const s = standard();
    const base = s.rules.find((r) => r.id === "base-points");
    const bonus = s.rules.find((r) => r.id === "first-purchase");
    if (base === undefined || bonus === undefined) throw new Error("standard rules changed");
    const bad = {
      ...s,
      rules: [
        {
          ...bonus,
          id: "huge-bonus",
          caps: undefined,
          event: { type: "fixed-bonus", params: { points: 1_000_001 } },
        },
        {
          ...base,
          id: "string-rate",
          event: { type: "points-per-unit", params: { rate: "999999999999", rounding: "floor" } },
        },
        {
          ...base,
          id: "number-rate",
          event: {
            type: "points-per-unit",
            params: { rate: { numerator: 11, denominator: 1 }, rounding: "floor" },
          },
        },
      ],
    };
    const r = await cli(["rules", "validate", draft(bad), "--json"]);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { errors: Array<{ ruleId: string; path: string; problem: string }> };
    expect(doc.errors.map((e) => [e.ruleId, e.path])).toEqual([
      ["huge-bonus", "$.rules[0].event.params.points"],
      ["string-rate", "$.rules[1].event.params.rate"],
      ["number-rate", "$.rules[2].event.params.rate"],
    ]);
    for (const e of doc.errors) expect(e.problem).toMatch(/maxPointsPerEntry 1000000/);
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

describe("rules backtest", () => {
  // JSON Lines orders: [customer, ISO time, total in cents].
  const ORDERS: Array<[string, string, number]> = [
    ["c1", "1997-02-27T10:00:00Z", 1_999], // before --from: warm-up
    ["c1", "1997-03-01T00:00:00Z", 2_550], // the first instant of the window
    ["c2", "1997-03-05T12:00:00Z", 1_050],
    ["c3", "1997-03-09T08:00:00Z", 99],
    ["c2", "1997-03-20T23:59:59Z", 12_345],
    ["c4", "1997-03-31T23:59:59Z", 777],
    ["c1", "1997-04-01T00:00:00Z", 5_000], // --to is excluded
  ];
  const FROM = "1997-03-01";
  const TO = "1997-04-01";

  function fixture(): { running: string; draft: string; orders: string } {
    // The running set pays 1 point per dollar and values a point at half a cent; the draft pays 3.
    const running = draft(baseOnly());
    writeFileSync(
      join(running, "programme.json"),
      JSON.stringify({
        ...JSON.parse(readFileSync(join(STANDARD, "programme.json"), "utf8")),
        pointValueMinor: "0.5",
      }),
    );
    const s = baseOnly();
    const triple = draft({
      ...s,
      version: s.version + 1,
      rules: s.rules.map((r) => ({
        ...r,
        event: { type: "points-per-unit", params: { rate: "3", rounding: "floor" } },
      })),
    });
    const orders = join(triple, "orders.jsonl");
    writeFileSync(
      orders,
      ORDERS.map(([customer, time, totalMinor], i) =>
        JSON.stringify({
          source: "web",
          type: "ORDER_PLACED",
          orderId: `o${i}`,
          customerId: customer,
          occurredAt: time,
          currency: "USD",
          totalMinor,
          lines: [],
        }),
      ).join("\n"),
    );
    return { running, draft: triple, orders };
  }

  it("--json: points, liability, members affected and top members, as computed from the orders", async () => {
    const f = fixture();
    const r = await cli([
      "rules",
      "backtest",
      f.draft,
      "--running",
      f.running,
      "--orders",
      f.orders,
      "--from",
      FROM,
      "--to",
      TO,
      "--json",
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      events: { warmUp: number; inWindow: number };
      members: number;
      byRule: Array<{
        ruleId: string;
        running: { netPoints: number };
        draft: { netPoints: number };
        difference: number;
      }>;
      totals: {
        running: { netPoints: number; liabilityMinor: number };
        draft: { netPoints: number; liabilityMinor: number };
        difference: { netPoints: number; liabilityMinor: number };
      };
      membersAffected: number;
      topMembers: Array<{ memberId: string; running: number; draft: number; difference: number }>;
      orders: { read: number; rejected: number };
    };
    // Independently: floor(dollars x rate) per order in [from, to).
    const from = Date.parse(`${FROM}T00:00:00Z`);
    const to = Date.parse(`${TO}T00:00:00Z`);
    const inWindow = ORDERS.filter(([, t]) => Date.parse(t) >= from && Date.parse(t) < to);
    const perMember = new Map<string, { running: number; draft: number }>();
    for (const [c, , cents] of inWindow) {
      const m = perMember.get(c) ?? { running: 0, draft: 0 };
      m.running += Math.floor(cents / 100);
      m.draft += Math.floor((cents * 3) / 100);
      perMember.set(c, m);
    }
    const running = [...perMember.values()].reduce((s, m) => s + m.running, 0);
    const drafted = [...perMember.values()].reduce((s, m) => s + m.draft, 0);
    const halfUp = (points: number) => Math.floor(points / 2) + (points % 2); // x 0.5, .5 rounds up
    expect(doc.orders).toEqual({ read: ORDERS.length, rejected: 0, file: f.orders });
    expect(doc.events).toEqual({ warmUp: 1, inWindow: inWindow.length });
    expect(doc.members).toBe(new Set(inWindow.map(([c]) => c)).size);
    expect(doc.byRule.find((x) => x.ruleId === "base-points")).toMatchObject({
      running: { netPoints: running },
      draft: { netPoints: drafted },
      difference: drafted - running,
    });
    expect(doc.totals).toEqual({
      running: {
        awardedPoints: running,
        reversedPoints: 0,
        netPoints: running,
        liabilityMinor: halfUp(running),
      },
      draft: {
        awardedPoints: drafted,
        reversedPoints: 0,
        netPoints: drafted,
        liabilityMinor: halfUp(drafted),
      },
      difference: { netPoints: drafted - running, liabilityMinor: halfUp(drafted) - halfUp(running) },
    });
    const diffs = [...perMember.entries()]
      .map(([memberId, m]) => ({
        memberId,
        running: m.running,
        draft: m.draft,
        difference: m.draft - m.running,
      }))
      .filter((m) => m.difference !== 0)
      .sort((a, b) => Math.abs(b.difference) - Math.abs(a.difference) || (a.memberId < b.memberId ? -1 : 1));
    expect(doc.membersAffected).toBe(diffs.length);
    expect(doc.topMembers).toEqual(diffs);
  });

  it("text: the same totals, and a draft equal to the running set affects no one", async () => {
    const f = fixture();
    const r = await cli([
      "rules",
      "backtest",
      f.running,
      "--running",
      f.running,
      "--orders",
      f.orders,
      "--from",
      FROM,
      "--to",
      TO,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(`backtest of base-only v1 beside base-only v1 (${f.running}), `)).toBe(true);
    expect(r.stdout).toContain("[1997-03-01T00:00:00.000Z, 1997-04-01T00:00:00.000Z)");
    expect(r.stdout).toContain("members affected: 0 of 4");
    expect(r.stdout).toMatch(/\ntotal +(\d+) +\1 +0\n/);
  });

  it("defaults: the CDNOW master file, beside rules/standard", async () => {
    const r = await cli([
      "rules",
      "backtest",
      "rules/standard",
      "--from",
      "1997-01-01",
      "--to",
      "1997-01-03",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      running: { id: string };
      orders: { file: string };
      events: { warmUp: number; inWindow: number };
      membersAffected: number;
    };
    expect(doc.running.id).toBe("standard");
    expect((doc as { runningFrom?: string }).runningFrom).toBe("rules/standard");
    expect(doc.orders.file).toMatch(/data\/cdnow\/CDNOW_master\.txt$/);
    expect(doc.events.warmUp).toBe(0);
    expect(doc.events.inWindow).toBeGreaterThan(0);
    expect(doc.membersAffected).toBe(0);
  });

  it.each([
    [["--to", TO], /--from/],
    [["--from", FROM, "--to", "1997-02-30"], /--to must be a date YYYY-MM-DD/],
    [["--from", "March", "--to", TO], /--from must be a date YYYY-MM-DD/],
    [["--from", TO, "--to", FROM], /--from must be before --to/],
    [["--from", FROM, "--to", TO, "--orders", "no/such/file.txt"], /--orders no\/such\/file\.txt: ENOENT/],
    [
      ["--from", FROM, "--to", TO, "--running", "rules/standard", "--running-published"],
      /--running and --running-published exclude each other/,
    ],
  ])("usage error %j: exit 2 naming the flag", async (args, message) => {
    const r = await cli(["rules", "backtest", "rules/standard", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("an invalid draft is not backtested: its errors, exit 1", async () => {
    const s = standard();
    const dir = draft({ ...s, rules: [{ ...s.rules[0], priority: "high" }] });
    const r = await cli([
      "rules",
      "backtest",
      dir,
      "--from",
      FROM,
      "--to",
      TO,
      "--orders",
      "data/cdnow/CDNOW_sample.txt",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\$\.rules\[0\]\.priority/);
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

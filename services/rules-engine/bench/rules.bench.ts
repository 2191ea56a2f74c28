// Rules-engine benchmark: 100 active rules of realistic shapes, orders from the CDNOW file
// (customer id, YYYYMMDD, number of CDs, dollars) with synthetic categories, channels, stores
// and hours. Measures the compiled path and json-rules-engine on the same rules and orders,
// and exits non-zero if the two disagree on the rules fired for any sampled order.
//
//   cd /work/main && ./node_modules/.bin/tsx services/rules-engine/bench/rules.bench.ts
//   options: --orders N (cap CDNOW orders), --jre N (orders for json-rules-engine, default 3000)

import { readFileSync } from "node:fs";
import { cdnow } from "@loyalty/datasets";
import { Engine, type RuleProperties } from "json-rules-engine";
import { candidates, compileRuleSet } from "../src/rules/compile.ts";
import { evaluate } from "../src/rules/evaluate.ts";
import { type MemberInput, type OrderFacts, type OrderInput, buildOrderFacts } from "../src/rules/facts.ts";
import type { ProgrammeConfig } from "../src/rules/types.ts";
import { validateRuleSet } from "../src/rules/validate.ts";
import {
  EVENT_TIME_FACT,
  factNamesOf,
  flattenFacts,
  toJsonRulesEngineRule,
} from "../test/support/interop.ts";

const PROGRAMME: ProgrammeConfig = { baseCurrency: "USD", currencyExponent: 2, timeZone: "America/New_York" };

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const hash = (s: string): number => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
};

// --- rules -------------------------------------------------------------------------------

const CATEGORIES = [
  "rock",
  "pop",
  "jazz",
  "classical",
  "country",
  "soundtrack",
  "blues",
  "latin",
  "folk",
  "world",
];
const CAT_WEIGHTS = [35, 25, 10, 8, 8, 5, 4, 3, 1, 1];
const TIERS = ["member", "silver", "gold", "platinum"];
const CHANNELS = ["web", "web", "web", "phone", "mail"];
const SEGMENTS = ["regular", "students", "collectors", "gifting"];

type Json = Record<string, unknown>;
const leaf = (fact: string, operator: string, value: unknown, path?: string): Json =>
  path === undefined ? { fact, operator, value } : { fact, operator, value, path };
const ppu = (rate: string) => ({ type: "points-per-unit", params: { rate, rounding: "floor" } });
const mult = (factor: string) => ({
  type: "multiplier",
  params: { factor, appliesTo: "base", rounding: "floor" },
});
const bonus = (points: number) => ({ type: "fixed-bonus", params: { points } });

function buildRules(): Json[] {
  const rules: Json[] = [];
  let n = 0;
  const add = (r: Json): void => {
    rules.push({
      version: 1,
      name: String(r.id),
      status: "active",
      priority: 10,
      trigger: "order.placed",
      ...r,
    });
    n++;
  };
  add({
    id: "base-points",
    priority: 100,
    conditions: { all: [leaf("order.baseAmountMinor", "greaterThan", 0)] },
    event: ppu("1"),
  });
  [
    ["silver", "1.25"],
    ["gold", "1.5"],
    ["platinum", "2"],
  ].forEach(([tier, f], i) =>
    add({
      id: `tier-${tier}`,
      priority: 90 + i,
      exclusiveGroup: "tier",
      conditions: { all: [leaf("member.tier", "equal", tier)] },
      event: mult(f ?? "1"),
    }),
  );
  add({
    id: "birthday",
    conditions: { all: [leaf("member.isBirthdayMonth", "equal", true)] },
    event: mult("2"),
    caps: { perMemberPerDay: 2000 },
  });
  add({
    id: "first-purchase",
    conditions: { all: [leaf("member.orderCount", "equal", 0)] },
    event: bonus(100),
    caps: { perMemberPerCampaign: 100 },
  });
  add({ id: "winback", conditions: { all: [leaf("member.atRisk", "equal", true)] }, event: bonus(250) });
  // 30 category promotions over quarters of 1997-1998, some with spend thresholds.
  for (let i = 0; i < 30; i++) {
    const cat = CATEGORIES[i % CATEGORIES.length] ?? "rock";
    const q = i % 6;
    const from = `${1997 + Math.floor(q / 4)}-${String((q % 4) * 3 + 1).padStart(2, "0")}-01T00:00:00-05:00`;
    const until = `${1997 + Math.floor((q + 1) / 4)}-${String(((q + 1) % 4) * 3 + 1).padStart(2, "0")}-01T00:00:00-05:00`;
    const all: Json[] = [leaf("order.categories", "contains", cat)];
    if (i >= 10) all.push(leaf("order.baseAmountMinor", "greaterThanInclusive", 1000 + 500 * (i % 5)));
    if (i >= 20)
      all.push({
        any: [leaf("member.tier", "in", ["gold", "platinum"]), leaf("member.orderCount", "greaterThan", 3)],
      });
    add({
      id: `cat-${i}`,
      validity: { from, until },
      conditions: { all },
      event: i % 2 === 0 ? mult("2") : bonus(50 + i),
      budget: { totalPoints: 1_000_000 },
    });
  }
  // 20 store promotions.
  for (let i = 0; i < 20; i++) {
    add({
      id: `store-${i}`,
      conditions: {
        all: [
          leaf("order.storeId", "equal", `store-${i}`),
          leaf("order.quantity", "greaterThanInclusive", 2),
        ],
      },
      event: bonus(20),
    });
  }
  // 14 happy hours / weekday promotions.
  for (let i = 0; i < 14; i++) {
    add({
      id: `dow-${i}`,
      conditions: {
        all: [
          leaf("order.dayOfWeek", "equal", i % 7),
          leaf("order.hour", "in", i < 7 ? [12, 13] : [20, 21, 22]),
        ],
      },
      event: mult("1.5"),
    });
  }
  // 10 spend ladders in one exclusive group.
  for (let i = 0; i < 10; i++) {
    add({
      id: `spend-${i}`,
      priority: 50 + i,
      exclusiveGroup: "spend-ladder",
      conditions: { all: [leaf("order.baseAmountMinor", "greaterThanInclusive", 2000 + i * 1500)] },
      event: bonus(10 + i * 10),
    });
  }
  // Remaining: nested any/not, paths, segments, channels, counters.
  const extra: Json[] = [
    {
      id: "students-app",
      targeting: { segments: ["students"] },
      conditions: { all: [leaf("order.channel", "equal", "phone")] },
      event: bonus(15),
    },
    {
      id: "collector-box",
      conditions: {
        all: [leaf("member.segment", "equal", "collectors"), leaf("order.quantity", "greaterThan", 4)],
      },
      event: mult("1.25"),
    },
    {
      id: "gift-season",
      validity: { from: "1997-11-15T00:00:00-05:00", until: "1998-01-01T00:00:00-05:00" },
      conditions: {
        any: [leaf("member.segment", "equal", "gifting"), leaf("order.quantity", "greaterThanInclusive", 3)],
      },
      event: bonus(40),
    },
    {
      id: "not-rock",
      conditions: {
        not: {
          any: [leaf("order.categories", "contains", "rock"), leaf("order.categories", "contains", "pop")],
        },
      },
      event: bonus(5),
    },
    {
      id: "first-line-jazz",
      conditions: {
        all: [
          leaf("order.lines", "equal", "jazz", "$[0].category"),
          leaf("order.baseAmountMinor", "greaterThan", 1500),
        ],
      },
      event: bonus(30),
    },
    {
      id: "bulk-line",
      conditions: { all: [leaf("order.lines", "contains", 3, "$[*].quantity")] },
      event: bonus(12),
    },
    {
      id: "loyal-mail",
      conditions: {
        all: [
          leaf("order.channel", "equal", "mail"),
          leaf("member.lifetimeSpendMinor", "greaterThan", 20000),
        ],
      },
      event: bonus(25),
    },
    {
      id: "lapsed-90",
      conditions: {
        all: [
          leaf("member.daysSinceLastPurchase", "greaterThanInclusive", 90),
          { not: leaf("member.atRisk", "equal", true) },
        ],
      },
      event: bonus(60),
    },
    {
      id: "counter-3rd",
      conditions: { all: [leaf("counters.spring.memberCount", "equal", 2)] },
      event: bonus(33),
    },
    {
      id: "weekend-platinum",
      targeting: { tiers: ["platinum"] },
      conditions: { any: [leaf("order.dayOfWeek", "equal", 0), leaf("order.dayOfWeek", "equal", 6)] },
      event: bonus(70),
    },
    {
      id: "tenure-1y",
      conditions: {
        all: [
          leaf("member.tenureDays", "greaterThanInclusive", 365),
          leaf("member.orderCount", "lessThan", 3),
        ],
      },
      event: bonus(45),
    },
    { id: "late-night", conditions: { all: [leaf("order.hour", "lessThan", 5)] }, event: bonus(8) },
    {
      id: "quiet-quarter",
      validity: { from: "1998-01-01T00:00:00-05:00", until: "1998-04-01T00:00:00-04:00" },
      conditions: {
        all: [leaf("order.month", "in", [1, 2, 3]), leaf("order.baseAmountMinor", "greaterThan", 3000)],
      },
      event: mult("1.1"),
    },
    {
      id: "big-basket",
      conditions: {
        all: [
          leaf("order.quantity", "greaterThan", { fact: "member.orderCount" }),
          leaf("order.quantity", "greaterThan", 5),
        ],
      },
      event: bonus(55),
    },
    {
      id: "survey-campaign",
      conditions: { all: [leaf("member.orderCount", "equal", 10)] },
      event: {
        type: "campaign",
        params: { campaignId: "survey", reward: { template: "survey-10th-order" } },
      },
    },
    {
      id: "world-folk",
      conditions: {
        any: [leaf("order.categories", "contains", "world"), leaf("order.categories", "contains", "folk")],
      },
      event: bonus(18),
    },
    { id: "skus-a", conditions: { all: [leaf("order.skus", "contains", "sku-7")] }, event: bonus(9) },
    {
      id: "jazz-web",
      conditions: {
        all: [
          leaf("order.channel", "equal", "web"),
          leaf("order.categories", "contains", "jazz"),
          leaf("member.orderCount", "greaterThanInclusive", 1),
        ],
      },
      event: bonus(11),
    },
    {
      id: "classical-gold",
      targeting: { tiers: ["gold", "platinum"] },
      conditions: { all: [leaf("order.lines", "contains", "classical", "$[*].category")] },
      event: mult("1.2"),
    },
    { id: "draft-idea", status: "draft", conditions: { all: [] }, event: bonus(1000) },
    { id: "paused-idea", status: "paused", conditions: { all: [] }, event: bonus(1000) },
    { id: "retired-promo", status: "retired", conditions: { all: [] }, event: bonus(1000) },
  ];
  for (const r of extra) add(r);
  const active = rules.filter((r) => r.status === "active").length;
  if (active !== 100) throw new Error(`expected 100 active rules, got ${active} of ${n}`);
  return rules;
}

// --- orders ------------------------------------------------------------------------------

interface BenchOrder {
  facts: OrderFacts;
  timeMs: number;
}

function pickWeighted(r: () => number): string {
  let x = r() * 100;
  for (let i = 0; i < CATEGORIES.length; i++) {
    x -= CAT_WEIGHTS[i] ?? 0;
    if (x < 0) return CATEGORIES[i] ?? "rock";
  }
  return "rock";
}

function loadOrders(limit: number): { orders: BenchOrder[]; source: string; factsSeconds: number } {
  const rand = prng(1997);
  const rows: Array<{ customer: string; ymd: string; cds: number; cents: number }> = [];
  const source = "CDNOW_master.txt";
  const lines = readFileSync(cdnow.master(), "utf8").split(/\r?\n/);
  for (let i = 1; i < lines.length && rows.length < limit; i++) {
    const parts = (lines[i] ?? "").trim().split(/\s+/);
    if (parts.length < 4) continue;
    const [customer = "", ymd = "", cds = "0", dollars = "0"] = parts;
    const [whole = "0", frac = ""] = dollars.split(".");
    rows.push({
      customer,
      ymd,
      cds: Number(cds),
      cents: Number(whole) * 100 + Number((frac + "00").slice(0, 2)),
    });
  }
  // Member state evolves in file order (CDNOW is sorted by customer, then date).
  const state = new Map<string, { count: number; spend: number; last: string | null; enrolled: string }>();
  const inputs: Array<{ order: OrderInput; member: MemberInput }> = [];
  for (const row of rows) {
    const h = hash(row.customer);
    const hour = Math.floor(rand() * 24);
    const iso = `${row.ymd.slice(0, 4)}-${row.ymd.slice(4, 6)}-${row.ymd.slice(6, 8)}T${String(hour).padStart(2, "0")}:${String(Math.floor(rand() * 60)).padStart(2, "0")}:00-05:00`;
    let s = state.get(row.customer);
    if (s === undefined) {
      s = { count: 0, spend: 0, last: null, enrolled: iso };
      state.set(row.customer, s);
    }
    const cds = Math.max(1, row.cds);
    const lines = [];
    let left = row.cents;
    for (let k = 0; k < Math.min(cds, 6); k++) {
      const qty = k === Math.min(cds, 6) - 1 ? cds - k : 1;
      const price = k === Math.min(cds, 6) - 1 ? Math.max(0, left) : Math.floor(row.cents / cds);
      left -= price;
      lines.push({
        sku: `sku-${Math.floor(rand() * 500)}`,
        category: pickWeighted(rand),
        quantity: qty,
        unitPriceMinor: Math.floor(price / qty),
      });
    }
    const daysSince = s.last === null ? null : (Date.parse(iso) - Date.parse(s.last)) / 86_400_000;
    inputs.push({
      order: {
        orderId: `${row.customer}-${row.ymd}-${inputs.length}`,
        placedAt: iso,
        currency: "USD",
        amountMinor: row.cents,
        channel: CHANNELS[h % CHANNELS.length] ?? "web",
        storeId: rand() < 0.3 ? `store-${Math.floor(rand() * 25)}` : null,
        lines,
      },
      member: {
        memberId: row.customer,
        tier: TIERS[(h >>> 3) % 4 === 3 && h % 5 !== 0 ? 2 : (h >>> 3) % 4] ?? "member",
        segment: SEGMENTS[(h >>> 7) % SEGMENTS.length] ?? null,
        enrolledAt: s.enrolled,
        birthdayMonth: 1 + ((h >>> 11) % 12),
        orderCount: s.count,
        lifetimeSpendMinor: s.spend,
        lastPurchaseAt: s.last,
        atRisk: daysSince !== null && daysSince > 180,
        counters: { spring: { memberCount: s.count % 4 } },
      },
    });
    s.count++;
    s.spend += row.cents;
    s.last = iso;
  }
  const t0 = process.hrtime.bigint();
  const orders = inputs.map(({ order, member }) => ({
    facts: buildOrderFacts(order, member, PROGRAMME),
    timeMs: Date.parse(String(order.placedAt)),
  }));
  const factsSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { orders, source, factsSeconds };
}

// --- run ---------------------------------------------------------------------------------

async function main(): Promise<number> {
  const rules = buildRules();
  const v = validateRuleSet({ id: "bench", version: 1, rules });
  if (!v.ok) {
    console.error(JSON.stringify(v.errors, null, 2));
    return 2;
  }
  const ruleSet = v.ruleSet;
  const active = ruleSet.rules.filter((r) => r.status === "active");
  const tc = process.hrtime.bigint();
  const compiled = compileRuleSet(ruleSet, PROGRAMME);
  const compileMs = Number(process.hrtime.bigint() - tc) / 1e6;
  const { orders, source, factsSeconds } = loadOrders(arg("orders", Number.POSITIVE_INFINITY));

  // Compiled path: warm up, then the best of 5 passes over every order.
  let sink = 0;
  let matchedTotal = 0;
  let awardTotal = 0;
  let pointsTotal = 0;
  let candidateTotal = 0;
  for (const o of orders) {
    candidateTotal += candidates(compiled, "order.placed", o.facts).length;
    const ev = evaluate(compiled, "order.placed", o.facts, o.timeMs);
    matchedTotal += ev.matched.length;
    awardTotal += ev.awards.length;
    pointsTotal += ev.totalPoints.member;
  }
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 5; pass++) {
    const t0 = process.hrtime.bigint();
    for (const o of orders) sink += evaluate(compiled, "order.placed", o.facts, o.timeMs).awards.length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }

  // json-rules-engine on the first N orders, same rules (window and targeting as conditions).
  const jreN = Math.min(orders.length, arg("jre", 3000));
  const engine = new Engine([], { allowUndefinedFacts: true });
  const names = new Set<string>(["member.tier", "member.segment"]);
  for (const r of active) {
    engine.addRule(toJsonRulesEngineRule(r, { withEligibility: true }) as unknown as RuleProperties);
    factNamesOf(r.conditions, names);
  }
  const flat = orders
    .slice(0, jreN)
    .map((o) => ({ ...flattenFacts(o.facts, names), [EVENT_TIME_FACT]: o.timeMs }));
  const fired: string[][] = [];
  for (let i = 0; i < Math.min(200, jreN); i++) await engine.run(flat[i]); // warm-up
  const tj = process.hrtime.bigint();
  for (const f of flat) {
    const { results } = await engine.run(f);
    fired.push(results.map((x) => String(x.name)).sort());
  }
  const jreSeconds = Number(process.hrtime.bigint() - tj) / 1e9;

  let mismatches = 0;
  let jreFiredCount = 0;
  let oursFiredCount = 0;
  for (let i = 0; i < jreN; i++) {
    const o = orders[i];
    if (o === undefined) continue;
    const ours = evaluate(compiled, "order.placed", o.facts, o.timeMs)
      .matched.map((m) => m.ruleId)
      .sort();
    const theirs = fired[i] ?? [];
    oursFiredCount += ours.length;
    jreFiredCount += theirs.length;
    if (ours.join(",") !== theirs.join(",")) {
      if (mismatches < 5)
        console.error(`mismatch on order ${i}: compiled [${ours}] vs json-rules-engine [${theirs}]`);
      mismatches++;
    }
  }

  const compiledRate = orders.length / best;
  const jreRate = jreN / jreSeconds;
  const fmt = (x: number): string => Math.round(x).toLocaleString("en-US");
  const row = (a: string, b: string, c: string, d: string): string =>
    `${a.padEnd(30)}${b.padStart(10)}${c.padStart(11)}${d.padStart(14)}`;
  console.log(
    `rules: ${ruleSet.rules.length} (${active.length} active), orders: ${fmt(orders.length)} from ${source}, compile ${compileMs.toFixed(1)} ms`,
  );
  console.log(
    `per order: ${(candidateTotal / orders.length).toFixed(1)} of ${active.length} rules looked at (index), ${(matchedTotal / orders.length).toFixed(2)} matched, ${(awardTotal / orders.length).toFixed(2)} awards, ${(pointsTotal / orders.length).toFixed(1)} points`,
  );
  console.log(row("path", "orders", "seconds", "orders/s"));
  console.log(
    row("buildOrderFacts", fmt(orders.length), factsSeconds.toFixed(3), fmt(orders.length / factsSeconds)),
  );
  console.log(row("compiled evaluate (best of 5)", fmt(orders.length), best.toFixed(3), fmt(compiledRate)));
  console.log(row("json-rules-engine 7.3.1", fmt(jreN), jreSeconds.toFixed(3), fmt(jreRate)));
  console.log(`ratio compiled / json-rules-engine: ${(compiledRate / jreRate).toFixed(1)}x`);
  console.log(
    `agreement over ${fmt(jreN)} orders: ${mismatches === 0 ? "OK" : `${mismatches} MISMATCHES`} (rules fired: compiled ${oursFiredCount}, json-rules-engine ${jreFiredCount})`,
  );
  if (sink < 0) console.log(sink);
  return mismatches === 0 && oursFiredCount === jreFiredCount ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);

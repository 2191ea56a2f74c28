import { existsSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
// The console's dashboard figures, churn page and member page (issue 23 items 4 to 6) end to end
// in real headless Chromium (Debian's `chromium`, driven by playwright-core) against the real
// stack: the member API and the rules engine (the ledger's owner) as child processes on a test
// namespace, rules/standard signed and published, purchases put on loyalty.purchases.v1 as the
// ingestor (the engine prices them and publishes its entries on loyalty.points.v1, which the API's
// dashboard read model sums), tier changes and churn alerts as the tier evaluator and churn-alert
// principals, and churn-alert's ops server played by a stub answering /calibration and
// /churn-card (the API forwards to it). The console's own server is in front of the API.
//
// Checked: at 1280 and 390 px the liability, flow, budget-burn, win-back and segment figures are
// drawn (a canvas each) from non-empty data with the figures of the ledger; the churn page shows
// segment sizes, the current fit and when it was made, and the calibration chart; the member page
// shows tier progress from the tier change's metric and churn-alert's card (P(alive), CLV, segment)
// for a member, "not available" when churn-alert fails (the API's 503); an admin adjusts a member's points with a
// reason and sees the new entry and balance without a reload, and a dashboard left open meanwhile
// shows the liability grow by it; a read-only key sees no adjust form and the API answers it 403.
import { type Server, createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AvroCodec,
  type ChurnAlert,
  type PurchaseEvent,
  type TierChanged,
  namespacedTopics,
} from "@loyalty/contracts";
import { type Pool, createPool, migrate } from "@loyalty/db";
import {
  STANDARD_RULES_DIR,
  publishRuleSet,
  readRuleSetSource,
  signerOf,
  signingKeyFromEnv,
  validateRuleSet,
} from "@loyalty/rules-engine";
import { ensureTopics } from "@loyalty/stream-runtime";
import {
  type RunningService,
  type TestStack,
  devRulesKeyEnv,
  grantTestNamespace,
  principalKafka,
  publisherKafka,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConsoleServer, DIST, startConsoleServer } from "../server/serve.ts";

const REPO = new URL("../../../", import.meta.url).pathname;
const API_MAIN = `${REPO}services/api/src/main.ts`;
const ENGINE_MAIN = `${REPO}services/rules-engine/src/main.ts`;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/**
 * Screenshots, each checked non-empty: into a temporary directory; with UPDATE_SCREENSHOTS=1 the two
 * the console's README shows (`console-figures.png`, `console-churn.png`) go to docs/screenshots/.
 */
const TMP_SHOTS = mkdtempSync(join(tmpdir(), "console-dashboard-shots-"));
const README_SHOTS = process.env.UPDATE_SCREENSHOTS === "1" ? `${REPO}docs/screenshots` : TMP_SHOTS;
const ADMIN_KEY = "dashboard-test-admin-key-0123456789abcdef01";
const DAY = 86_400_000;
const NOW = Date.now();
const FIT_AT = new Date(NOW - 12 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
const FIT = `bgnbd@${FIT_AT}`;
const MEMBERS = ["dash-m0", "dash-m1", "dash-m2", "dash-m3"];

/** Each member buys 20 days ago (with jazz: the budgeted jazz-double rule); m0 and m1 again 3 days ago. */
const PURCHASES: PurchaseEvent[] = [
  ...MEMBERS.map((m, i) => ({ m, i, at: NOW - 20 * DAY, amount: 4_250 + i * 1_000 })),
  ...MEMBERS.slice(0, 2).map((m, i) => ({ m, i: i + 4, at: NOW - 3 * DAY, amount: 2_000 })),
].map(({ m, i, at, amount }) => ({
  eventId: `dash-p${i}`,
  type: "PURCHASE",
  memberId: m,
  source: "web",
  orderId: `dash-o${i}`,
  eventTime: at,
  amountMinor: amount,
  currency: "USD",
  baseAmountMinor: amount,
  baseCurrency: "USD",
  fxRate: "1",
  lines: [
    {
      lineId: "1",
      sku: `jazz-${i}`,
      category: "jazz",
      quantity: 1,
      unitPriceMinor: amount,
      baseLineTotalMinor: amount,
    },
  ],
  channel: null,
  storeId: null,
  refundId: null,
  refundedLineIds: [],
}));
/** m0 up to silver (spend 600 of 500); m1 to silver, then gold at 1,500. */
const TIERS: TierChanged[] = [
  ["dash-m0", "base", "silver", 600, 500, 15],
  ["dash-m1", "base", "silver", 700, 500, 16],
  ["dash-m1", "silver", "gold", 1_600, 1_500, 14],
].map(([m, from, to, value, threshold, daysAgo], i) => ({
  eventId: `dash-tier-${i}`,
  memberId: String(m),
  fromTier: String(from),
  toTier: String(to),
  direction: "UP",
  reason: "QUALIFIED",
  metric: "spend",
  metricValue: Number(value),
  threshold: Number(threshold),
  effectiveAt: NOW - Number(daysAgo) * DAY,
  evaluationDate: null,
}));
/** Every member alerted 10 days ago (after the first purchases, before m0's and m1's second). */
const ALERTS: ChurnAlert[] = MEMBERS.map((m, i) => ({
  eventId: `dash-alert-${i}`,
  memberId: m,
  eventTime: NOW - 10 * DAY,
  pAlive: 0.2,
  expectedPurchases: 0.3,
  horizonDays: 90,
  expectedValueMinor: 2_500,
  currency: "USD",
  segment: i === 3 ? "lost" : "at-risk",
  actionLevel: i % 2 === 0 ? "high-value-at-risk" : "at-risk",
  reason: "pAlive below threshold",
  modelVersion: FIT,
  bgnbd: { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 },
}));
/** What churn-alert's ops server answers GET /calibration with (the API forwards to it). */
const CALIBRATION = {
  calibrationEnd: "1997-09-30",
  holdoutEnd: "1998-06-30",
  unitDays: 7,
  fit: {
    params: { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 },
    logLikelihood: -9582.4,
    members: 4,
    converged: true,
    iterations: 80,
  },
  holdoutLength: 39,
  totals: { members: 4, actual: 5, expected: 4.6, relativeError: -0.08 },
  byFrequency: [0, 1, 2].map((x) => ({
    x,
    label: String(x),
    members: x === 0 ? 2 : 1,
    actual: x + 1,
    expected: x + 0.9,
    actualMean: x + 0.5,
    expectedMean: x + 0.45,
  })),
  members: [],
  laterMembers: 0,
  frontier: null,
  holdoutReached: true,
};

/** What churn-alert's ops server answers GET /churn-card?memberId=dash-m0 with (dash-m2: a 500). */
const CARD = {
  memberId: "dash-m0",
  asOf: NOW - DAY,
  modelVersion: FIT,
  pAlive: 0.4375,
  expectedPurchases: 1.25,
  horizonDays: 90,
  expectedValueMinor: 12_345,
  segment: "need-attention",
  rfm: { r: 3, f: 2, m: 4 },
  lastAlertAt: null,
};

/** The stub's answer to a GET: [status, body]. */
function stubAnswer(url: string): [number, unknown] {
  if (url.startsWith("/calibration?")) return [200, CALIBRATION];
  if (url === "/churn-card?memberId=dash-m0") return [200, CARD];
  if (url === "/churn-card?memberId=dash-m2")
    return [500, { error: { code: "INTERNAL", message: "internal error" } }];
  if (url.startsWith("/churn-card?"))
    return [404, { error: { code: "NOT_FOUND", message: "no churn card" } }];
  return [404, { error: { code: "NOT_FOUND", message: "no such route" } }];
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => ok(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: RunningService;
let engine: RunningService;
let apiBase: string;
let consoleServer: ConsoleServer;
let churnStub: Server;
let browser: Browser;
let adminKey: string;
let readKey: string;

const one = async (sql: string, params: unknown[] = []) =>
  (await pool.query<{ n: number }>(sql, params)).rows[0]?.n ?? 0;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: run bash infra/bin/bootstrap, or set CHROMIUM_PATH`);
  if (!existsSync(`${DIST}index.html`))
    throw new Error(`the console is not built (${DIST}): pnpm --filter @loyalty/console build`);
  stack = await requireStack();
  ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });

  churnStub = createServer((req, res) => {
    const [status, body] = stubAnswer(req.url ?? "/");
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((ok) => churnStub.listen(0, "127.0.0.1", ok));
  const stubAddress = churnStub.address();
  const stubPort = typeof stubAddress === "object" && stubAddress ? stubAddress.port : 0;

  const port = await freePort();
  apiBase = `http://127.0.0.1:${port}`;
  api = await spawnService(
    API_MAIN,
    serviceEnv(stack, ns, {
      SERVICE_NAME: "api",
      API_PORT: String(port),
      API_ADMIN_KEY: ADMIN_KEY,
      CLOCK_MODE: "wall",
      API_RATE_LIMIT_STORE: "memory",
      CHURN_ALERT_URL: `http://127.0.0.1:${stubPort}`,
    }),
  );
  await waitFor(
    "the API",
    () => fetch(`${apiBase}/readyz`).then((r) => r.status),
    (s) => s === 200,
  );

  const checked = validateRuleSet(readRuleSetSource(STANDARD_RULES_DIR()).json);
  if (!checked.ok) throw new Error("rules/standard does not validate");
  const key = signingKeyFromEnv({ ...devRulesKeyEnv(), ...process.env });
  if (key === null) throw new Error("no dev signing key (pnpm loyalty stack up makes one)");
  await grantTestNamespace(stack.kafkaBrokers, ns);
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  const topics = namespacedTopics(ns);
  await codec.registerAll([topics.rules, topics.purchases, topics.tiers, topics.churnAlerts]);
  await publishRuleSet(
    publisherKafka(stack.kafkaBrokers),
    codec,
    topics.rules,
    checked.ruleSet,
    signerOf(key, "dash-test"),
  );
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  try {
    await ensureTopics(admin, {
      partitions: 3,
      replication: 1,
      topics: [topics.purchases, topics.memberChanges],
    });
  } finally {
    await admin.disconnect();
  }
  engine = await spawnService(
    ENGINE_MAIN,
    serviceEnv(stack, ns, { SERVICE_NAME: "rules-engine", CLOCK_MODE: "wall" }),
  );

  for (const [principal, topic, records] of [
    ["ingestor", topics.purchases, PURCHASES],
    ["tier-evaluator", topics.tiers, TIERS],
    ["churn-alert", topics.churnAlerts, ALERTS],
  ] as const) {
    const p = principalKafka(stack.kafkaBrokers, principal).producer();
    await p.connect();
    try {
      await p.send({
        topic: topic.name,
        messages: await Promise.all(
          records.map(async (r) => ({ key: r.memberId, value: await codec.encode(topic, r) })),
        ),
      });
    } finally {
      await p.disconnect();
    }
  }
  // The engine prices every purchase, then the API's dashboard read model has read its entries.
  await waitFor(
    "the engine pricing the purchases",
    () => one("select count(*)::int as n from rules_priced_events where event_id like 'dash-p%'"),
    (n) => n === PURCHASES.length,
    90_000,
  );
  const entries = await one("select count(*)::int as n from ledger_entries");
  await waitFor(
    "the dashboard read model",
    () => one("select coalesce(sum(entries), 0)::int as n from api_dashboard_points"),
    (n) => n === entries,
  );

  const created = async (name: string, scopes: string[]) => {
    const r = await fetch(`${apiBase}/v1/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name, scopes }),
    });
    expect(r.status).toBe(201);
    return ((await r.json()) as { key: string }).key;
  };
  adminKey = await created("dash-admin", ["admin"]);
  readKey = await created("dash-reader", ["read"]);

  consoleServer = await startConsoleServer({ port: 0, host: "127.0.0.1", apiUrl: apiBase, dist: DIST });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  mkdirSync(README_SHOTS, { recursive: true });
}, 240_000);

async function shot(page: Page, name: string, readme = false) {
  const path = `${readme ? README_SHOTS : TMP_SHOTS}/${name}`;
  await page.screenshot({ path, fullPage: true });
  expect(statSync(path).size).toBeGreaterThan(10_000);
}

afterAll(async () => {
  if (engine) expect(await engine.stop()).toBe(0);
  await browser?.close();
  await consoleServer?.close();
  const code = await api?.stop();
  await new Promise<void>((ok) => (churnStub ? churnStub.close(() => ok()) : ok()));
  await pool?.end();
  expect(code).toBe(0);
});

async function signIn(page: Page, key: string) {
  await page.goto(`${consoleServer.url}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
}

const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/** The figures of the ledger the engine wrote (its tables: the test may read them, the API may not). */
async function ledgerFigures() {
  const outstanding = await one("select coalesce(sum(points), 0)::int as n from ledger_entries");
  const jazz = await one(
    "select coalesce(sum(points), 0)::int as n from ledger_entries where rule_id = 'jazz-double' and kind in ('earn', 'reverse')",
  );
  const issued = await one(
    "select coalesce(sum(points), 0)::int as n from ledger_entries where kind = 'earn'",
  );
  return { outstanding, jazz, issued };
}

describe("dashboard, churn page and member page in Chromium", () => {
  it("draws every new figure from non-empty data at 1280 and 390 px", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const failed: string[] = [];
    page.on("pageerror", (e) => failed.push(e.message));
    await signIn(page, readKey);
    const { outstanding, jazz, issued } = await ledgerFigures();
    expect(outstanding).toBeGreaterThan(0);
    expect(jazz).toBeGreaterThan(0);

    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      const liability = page.getByTestId("liability-chart");
      await liability.waitFor({ timeout: 30_000 });
      expect(await liability.locator("canvas").count()).toBe(1);
      // Cost per point 1 minor unit (the API's default, programme.json's): USD outstanding / 100.
      const usd = `USD ${Math.floor(outstanding / 100).toLocaleString("en")}.${String(outstanding % 100).padStart(2, "0")}`;
      expect(await liability.locator("figcaption").textContent()).toContain(
        `${outstanding.toLocaleString("en")} points, ${usd}`,
      );
      // Each figure fetches its data on its own: wait for each, not only the first.
      const flow = page.getByTestId("flow-chart");
      await flow.locator("canvas").first().waitFor({ timeout: 30_000 });
      expect(await flow.locator("canvas").count()).toBe(1);
      expect(await flow.locator("figcaption").textContent()).toContain(
        `${issued.toLocaleString("en")} issued`,
      );
      const budget = page.locator('[data-testid="budget-chart"][data-rule="jazz-double"]');
      await budget.locator("canvas").first().waitFor({ timeout: 30_000 });
      expect(await budget.locator("canvas").count()).toBe(1);
      expect(await budget.locator("figcaption").textContent()).toContain(
        `${jazz.toLocaleString("en")} of 5,000,000 points used`,
      );
      const winback = page.getByTestId("winback-chart");
      await winback.locator("canvas").first().waitFor({ timeout: 30_000 });
      expect(await winback.locator("canvas").count()).toBe(1);
      expect(await winback.locator("figcaption").textContent()).toContain(
        "4 members alerted, 2 purchased again after the alert (50.0 %)",
      );
      await page.getByTestId("segments").waitFor({ timeout: 30_000 });
      expect(await page.getByTestId("segments").locator("figcaption").textContent()).toContain(
        "at-risk 3, lost 1",
      );
      if (width === 390)
        await expect.poll(() => overflow(page), { timeout: 5_000, interval: 100 }).toBeLessThanOrEqual(0);
      else expect((await liability.locator("canvas").boundingBox())?.width ?? 0).toBeGreaterThan(500);
      await shot(page, width === 1280 ? "console-figures.png" : "console-figures-390.png", width === 1280);
    }

    // The churn page: segment sizes, the fit with its time, and the calibration chart.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole("link", { name: "Churn", exact: true }).click();
    await page.getByRole("heading", { name: "Churn model" }).waitFor();
    await page.getByTestId("fit-version").waitFor();
    expect(await page.getByTestId("fit-version").textContent()).toBe(FIT);
    expect(await page.getByTestId("fit-made").textContent()).toBe(
      `${FIT_AT.slice(0, 10)} ${FIT_AT.slice(11, 16)} UTC`,
    );
    expect(await page.getByTestId("fit").textContent()).toContain("r 0.243");
    await page.getByRole("button", { name: "Show calibration" }).click();
    const cal = page.getByTestId("calibration-chart");
    await cal.waitFor({ timeout: 30_000 });
    expect(await cal.getAttribute("data-buckets")).toBe("3");
    expect(await cal.locator("canvas").count()).toBe(1);
    expect(await cal.locator("figcaption").textContent()).toContain(
      "4 members, 5 actual, 4.6 predicted (error -8.0 %)",
    );
    await shot(page, "console-churn.png", true);
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => overflow(page), { timeout: 5_000, interval: 100 }).toBeLessThanOrEqual(0);
    expect(failed).toEqual([]);
    await page.close();
  });

  it("an admin adjusts a member with a reason and sees the entry; a read-only key has no form", async () => {
    // Read-only key: the member page without the form, and the API refuses it.
    const reader = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(reader, readKey);
    await reader.goto(`${consoleServer.url}/members/dash-m0`);
    await reader.getByTestId("balance").waitFor();
    await reader.getByTestId("tier-progress").waitFor();
    expect(await reader.getByTestId("tier-progress").textContent()).toContain(
      "silver: spend 600 of 1,500 for gold (40 %), 900 to go.",
    );
    expect(await reader.getByTestId("adjust-form").count()).toBe(0);
    // churn-alert's card for the member, forwarded by the API: P(alive), CLV, segment.
    await reader.getByTestId("churn-segment").waitFor();
    const scores = reader.getByLabel("Churn scores");
    expect(await scores.getByTestId("churn-palive").textContent()).toBe("0.438");
    expect(await scores.getByTestId("churn-clv").textContent()).toBe(
      "12,345 minor units, 1.25 purchases expected",
    );
    expect(await scores.getByTestId("churn-segment").textContent()).toBe("need-attention");
    // The card keeps the page within 390 px.
    await reader.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => overflow(reader), { timeout: 5_000, interval: 100 }).toBeLessThanOrEqual(0);
    await shot(reader, "console-member-card-390.png");
    await reader.setViewportSize({ width: 1280, height: 900 });
    const refused = await fetch(`${apiBase}/v1/members/dash-m0/adjustments`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${readKey}`,
        "content-type": "application/json",
        "idempotency-key": "dash-r1",
      },
      body: JSON.stringify({ points: 5, reason: "not allowed" }),
    });
    expect(refused.status).toBe(403);
    // The reader keeps the dashboard open while the admin adjusts (live: no reload).
    const { outstanding } = await ledgerFigures();
    await reader.getByRole("link", { name: "Dashboard", exact: true }).click();
    const liability = reader.getByTestId("liability-chart").locator("figcaption");
    await liability.waitFor();
    expect(await liability.textContent()).toContain(`${outstanding.toLocaleString("en")} points`);

    // Admin key: the form; +25 with a reason → the engine's entry, the balance, the history row.
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, adminKey);
    await page.goto(`${consoleServer.url}/members/dash-m2`);
    const balance = page.getByTestId("balance");
    await balance.waitFor();
    const before = await one("select balance::int as n from ledger_balances where member_id = 'dash-m2'");
    expect(await balance.textContent()).toBe(String(before));
    // churn-alert fails for this member (the API answers 503): the card says so, the page stands.
    await expect
      .poll(() => page.getByTestId("churn-score").textContent(), { timeout: 10_000, interval: 250 })
      .toBe("Churn card not available: churn-alert is not answering.");
    await page.getByLabel("Points (+ or −)").fill("25");
    await page.getByLabel("Reason").fill("goodwill: parcel arrived late");
    await page.getByRole("button", { name: "Adjust" }).click();
    await expect
      .poll(() => page.getByTestId("adjust-result").textContent(), { timeout: 20_000, interval: 250 })
      .toBe(`Adjusted by 25: balance ${before + 25}.`);
    const adjusted = await pool.query<{ points: number; reason: string }>(
      "select points::int as points, reason from ledger_entries where member_id = 'dash-m2' and kind = 'adjust'",
    );
    expect(adjusted.rows).toEqual([{ points: 25, reason: "goodwill: parcel arrived late" }]);
    // Without a reload: the balance and the history's new row (the page polls every 5 s).
    await expect
      .poll(() => balance.textContent(), { timeout: 15_000, interval: 500 })
      .toBe(String(before + 25));
    await page.getByRole("cell", { name: "goodwill: parcel arrived late" }).waitFor({ timeout: 15_000 });
    // The open dashboard follows: 25 more points outstanding, without a reload.
    await expect
      .poll(() => liability.textContent(), { timeout: 15_000, interval: 500 })
      .toContain(`${(outstanding + 25).toLocaleString("en")} points`);
    await reader.close();
    await page.setViewportSize({ width: 390, height: 844 });
    await expect.poll(() => overflow(page), { timeout: 5_000, interval: 100 }).toBeLessThanOrEqual(0);
    await shot(page, "console-member-390.png");
    await page.close();
  });
});

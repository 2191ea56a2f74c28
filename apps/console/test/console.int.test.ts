// The console end to end in real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the real stack: the member API as a child process (its rules read
// model consuming loyalty.rules.v1), rules/standard published as `loyalty rules publish` does
// (signed, as the publisher principal), a member's ledger seeded the way the rules engine writes
// it, a redemption made through the API, and the console's own server in front of the API.
//
// The history the backtest prices is the CDNOW master file (data/cdnow, @loyalty/datasets),
// replayed onto orders.v1 as the demo does (replayFile, as the upstream principal) and turned
// into purchases by the ingestor; the engine prices it too, before the pages are tested (30
// recent synthetic purchases give the dashboard its recent days).
//
// Steps: a wrong key is refused with a message; a marketer key signs in; the standard programme
// is in the rules list; an invalid rule in the draft shows the validator's message at its path,
// and fixing it clears it; the draft is submitted (the API stores it); a member lookup shows the
// balance the ledger holds; the dashboard chart is drawn from non-empty data; both pages follow
// redemptions made meanwhile without a reload; the members-per-tier and churn-alerts-per-week
// charts are drawn from the API's read models of loyalty.tiers.v1 and loyalty.churn-alerts.v1
// (records produced as the tier evaluator and churn-alert principals), and the member page shows
// the tier and churn card from them; a read-only key has no publish button (signed in
// with the keyboard only); a draft backtested in the page over the CDNOW range shows the per-rule
// table and liability of `loyalty rules backtest --from-topic --json` for the same draft; an
// approved draft is published and a new order gets the new rule's points. Two screenshots are taken and checked non-empty: into a temporary
// directory, or into docs/screenshots/ (the README's) with UPDATE_SCREENSHOTS=1.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
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
import { cdnow } from "@loyalty/datasets";
import { type Pool, createPool, migrate } from "@loyalty/db";
import {
  type ReplayRecord,
  compileFx,
  normaliseOrder,
  parseText,
  replayFile,
  validateOrder,
} from "@loyalty/ingestor";
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
  waitForGroup,
} from "@loyalty/testkit";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ConsoleServer,
  DIST,
  backtestConfigFromEnv,
  publishConfigFromEnv,
  startConsoleServer,
} from "../server/serve.ts";

const REPO = new URL("../../../", import.meta.url).pathname;
const API_MAIN = `${REPO}services/api/src/main.ts`;
const ENGINE_MAIN = `${REPO}services/rules-engine/src/main.ts`;
const INGESTOR_MAIN = `${REPO}services/ingestor/src/main.ts`;
/** The README's screenshots are rewritten only when asked: a test run leaves the tree clean. */
const SHOTS =
  process.env.UPDATE_SCREENSHOTS === "1"
    ? `${REPO}docs/screenshots`
    : mkdtempSync(join(tmpdir(), "console-screenshots-"));
const ADMIN_KEY = "console-test-admin-key-0123456789abcdef0123";
const MEMBER = "console-m1";
const DAY = 86_400_000;
const NOW_AT_LOAD = Date.now();
const CDNOW = cdnowPurchases();
/** The rule the drafts add (the backtest's and the published v2's): 7 points on every order. */
const CONSOLE_BONUS = {
  id: "console-bonus",
  version: 1,
  name: "7 points on every order",
  status: "active",
  priority: 30,
  trigger: "order.placed",
  conditions: { all: [] },
  event: { type: "fixed-bonus", params: { points: 7 } },
};
/** The CDNOW range the backtest prices: the master file's orders run from 1997-01-01 to 1998-06-30. */
const CDNOW_FROM = "1997-01-01";
const CDNOW_TO = "1998-07-01";
/**
 * The CDNOW master orders as canonical purchases, made by the ingestor's own pure steps (parse,
 * validate, normalise): what the backtest's figures are checked against, beside the CLI's.
 */
function cdnowPurchases(): PurchaseEvent[] {
  const fx = compileFx({ baseCurrency: "USD", rates: [] });
  const out: PurchaseEvent[] = [];
  for (const rec of parseText(readFileSync(cdnow.master(), "utf8")) as ReplayRecord[]) {
    if (rec.kind !== "order") continue;
    const order = validateOrder(rec.order);
    if (!order.ok) continue;
    const p = normaliseOrder(order.value, { memberId: order.value.customerId, fx });
    if (p.ok) out.push(p.value);
  }
  return out;
}
/** Recent history for the dashboard: 30 purchases of 7 members, 40 to 11 days ago. */
const HISTORY: PurchaseEvent[] = Array.from({ length: 30 }, (_, i) => ({
  eventId: `console-bt-${i}`,
  type: "PURCHASE",
  memberId: `bt-m${i % 7}`,
  source: "web",
  orderId: `bt-o${i}`,
  eventTime: NOW_AT_LOAD - (40 - i) * DAY,
  amountMinor: 1_000 + i * 531,
  currency: "USD",
  baseAmountMinor: 1_000 + i * 531,
  baseCurrency: "USD",
  fxRate: "1",
  lines: [],
  channel: null,
  storeId: null,
  refundId: null,
  refundedLineIds: [],
}));

/**
 * The member's own purchases ($120, $80 and $50; 20, 10 and 2 days ago), priced by the engine like
 * any other: the ledger's owner is the only writer of balances and lots (ADR 16), so the member's
 * points come from purchases, not from rows written behind its back.
 */
const MEMBER_PURCHASES: PurchaseEvent[] = [
  { amountMinor: 12_000, daysAgo: 20 },
  { amountMinor: 8_000, daysAgo: 10 },
  { amountMinor: 5_000, daysAgo: 2 },
].map(({ amountMinor, daysAgo }, i) => ({
  eventId: `console-m1-${i}`,
  type: "PURCHASE",
  memberId: MEMBER,
  source: "web",
  orderId: `console-m1-o${i}`,
  eventTime: NOW_AT_LOAD - daysAgo * DAY,
  amountMinor,
  currency: "USD",
  baseAmountMinor: amountMinor,
  baseCurrency: "USD",
  fxRate: "1",
  lines: [],
  channel: null,
  storeId: null,
  refundId: null,
  refundedLineIds: [],
}));

/** Tier changes as the tier evaluator publishes them: 4 members up to silver, 2 of them on to gold. */
const TIER_CHANGES: TierChanged[] = [0, 1, 2, 3, 4, 5].map((i) => ({
  eventId: `console-tier-${i}`,
  memberId: i < 4 ? `tier-m${i}` : `tier-m${i - 4}`,
  fromTier: i < 4 ? "base" : "silver",
  toTier: i < 4 ? "silver" : "gold",
  direction: "UP",
  reason: "QUALIFIED",
  metric: "spend",
  metricValue: 1_000 * (i + 1),
  threshold: 500,
  effectiveAt: NOW_AT_LOAD - (30 - i * 4) * DAY,
  evaluationDate: null,
}));
/** Churn alerts as churn-alert publishes them, over three weeks; the console's member among them. */
const ALERTS: ChurnAlert[] = [0, 1, 2, 3, 4].map((i) => ({
  eventId: `console-alert-${i}`,
  memberId: i === 4 ? "console-m1" : `alert-m${i}`,
  eventTime: NOW_AT_LOAD - (21 - i * 5) * DAY,
  pAlive: 0.1 + i * 0.05,
  expectedPurchases: 0.3,
  horizonDays: 90,
  expectedValueMinor: 2_500,
  currency: "USD",
  segment: "at-risk",
  actionLevel: i % 2 === 0 ? "high-value-at-risk" : "at-risk",
  reason: "pAlive below threshold",
  modelVersion: "fit-console",
  bgnbd: null,
}));

/** `loyalty rules backtest ...` as a child process, as an operator would run it. */
function loyalty(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", `${REPO}apps/cli/src/main.ts`, ...args], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("exit", (code) => ok({ code: code ?? 1, stdout, stderr }));
  });
}

/** Debian's chromium (infra/bin/bootstrap installs it); CHROMIUM_PATH names another. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
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

async function post(
  base: string,
  path: string,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: test-side JSON, asserted field by field
  return { status: res.status, body: (await res.json()) as any };
}

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: RunningService;
let apiBase: string;
let consoleServer: ConsoleServer;
let browser: Browser;
let marketerKey: string;
let readKey: string;
let reviewerKey: string;
const services: RunningService[] = [];
/** Points earned in the ledger's last 60 days: the member's and the engine's for HISTORY. */
let earnedInLedger = 0;
/** What the engine gave the member for MEMBER_PURCHASES (the standard programme's rules decide). */
let memberEarned = 0;
const NOW = Date.now();

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: run bash infra/bin/bootstrap (it installs Debian's chromium with apt-get), or set CHROMIUM_PATH`,
    );
  if (!existsSync(`${DIST}index.html`))
    throw new Error(`the console is not built (${DIST}): pnpm --filter @loyalty/console build`);
  stack = await requireStack();
  ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });

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
    }),
  );
  await waitFor(
    "the API",
    () => fetch(`${apiBase}/readyz`).then((r) => r.status),
    (s) => s === 200,
  );

  // rules/standard, signed and sent as `loyalty rules publish` does, as the publisher principal.
  const checked = validateRuleSet(readRuleSetSource(STANDARD_RULES_DIR()).json);
  if (!checked.ok) throw new Error("rules/standard does not validate");
  const key = signingKeyFromEnv({ ...devRulesKeyEnv(), ...process.env });
  if (key === null) throw new Error("no dev signing key (pnpm loyalty stack up makes one)");
  await grantTestNamespace(stack.kafkaBrokers, ns);
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  const rulesTopic = namespacedTopics(ns).rules;
  await codec.registerAll([rulesTopic]);
  await publishRuleSet(
    publisherKafka(stack.kafkaBrokers),
    codec,
    rulesTopic,
    checked.ruleSet,
    signerOf(key, "console-test-publisher"),
  );

  // The ledger's owner: redemptions are commands it applies (ADR 16 step 3); wall clock, as
  // `loyalty up` runs it.
  services.push(
    await spawnService(
      ENGINE_MAIN,
      serviceEnv(stack, ns, { SERVICE_NAME: "rules-engine", CLOCK_MODE: "wall" }),
    ),
  );
  // Running (it has read v1 from the topic) before the first redemption, which it applies: on a
  // busy machine its start takes longer than the API waits for a reply (202 instead of 201).
  await waitFor(
    "the engine running standard v1",
    () => pool.query<{ version: number }>("select version from rule_sets where rule_set_id = 'standard'"),
    (r) => r.rows.some((x) => x.version === 1),
    90_000,
  );
  // The member's purchases and the recent history on the namespace's purchases topic, as the
  // ingestor publishes them; the member's are priced before the first redemption.
  const topics = namespacedTopics(ns);
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  try {
    await ensureTopics(admin, {
      partitions: 3,
      replication: 1,
      topics: [topics.orders, topics.purchases, topics.memberChanges],
    });
  } finally {
    await admin.disconnect();
  }
  await codec.registerAll([topics.purchases]);
  const producer = principalKafka(stack.kafkaBrokers, "ingestor").producer();
  await producer.connect();
  try {
    await producer.send({
      topic: topics.purchases.name,
      messages: await Promise.all(
        [...MEMBER_PURCHASES, ...HISTORY].map(async (p) => ({
          key: p.memberId,
          value: await codec.encode(topics.purchases, p),
        })),
      ),
    });
  } finally {
    await producer.disconnect();
  }
  const memberEarns = await waitFor(
    "the engine pricing the member's purchases",
    () =>
      pool.query<{ n: number; points: number }>(
        "select count(*)::int as n, coalesce(sum(points), 0)::int as points from ledger_entries where member_id = $1 and kind = 'earn'",
        [MEMBER],
      ),
    (r) => (r.rows[0]?.n ?? 0) >= MEMBER_PURCHASES.length,
    90_000,
  );
  memberEarned = memberEarns.rows[0]?.points ?? 0;
  expect(memberEarned).toBeGreaterThanOrEqual(250); // at least a point per dollar of $250
  const redeemed = await post(
    apiBase,
    `/v1/members/${MEMBER}/redemptions`,
    ADMIN_KEY,
    { points: 30 },
    {
      "idempotency-key": "console-e2e-1",
    },
  );
  expect(redeemed.status).toBe(201);

  const created = async (name: string, scopes: string[]) => {
    const r = await post(apiBase, "/v1/keys", ADMIN_KEY, { name, scopes });
    expect(r.status).toBe(201);
    return r.body.key as string;
  };
  marketerKey = await created("console-marketer", ["marketer"]);
  readKey = await created("console-reader", ["read"]);
  reviewerKey = await created("console-reviewer", ["marketer"]);

  // Tier changes and churn alerts on the namespace's topics, as their producers' principals.
  await codec.registerAll([topics.tiers, topics.churnAlerts]);
  for (const [principal, topic, records] of [
    ["tier-evaluator", topics.tiers, TIER_CHANGES],
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
  // CDNOW master onto orders.v1 as the demo replays it (replayFile, as an upstream shop's
  // principal), the ingestor making the purchases the backtest reads. Once the ingestor has
  // committed every order, each purchase is on the topic.
  services.push(
    await spawnService(
      INGESTOR_MAIN,
      serviceEnv(stack, ns, { SERVICE_NAME: "ingestor", CLOCK_MODE: "wall" }),
    ),
  );
  const t0 = Date.now();
  const replayed = await replayFile({
    kafka: principalKafka(stack.kafkaBrokers, "upstream"),
    topic: topics.orders.name,
    file: cdnow.master(),
  });
  expect(replayed.sent).toBe(CDNOW.length);
  await waitForGroup(testKafka(stack.kafkaBrokers), `${ns}.ingestor`, [topics.orders.name], 600_000);
  console.log(
    `CDNOW: ${replayed.sent} orders replayed in ${(replayed.elapsedMs / 1000).toFixed(1)} s, ` +
      `all ingested after ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  // The engine prices the recent history first (it was on the topic before CDNOW): the
  // dashboard's figures are the ledger's (CDNOW, 1997-98, is outside its 90 days).
  await waitFor(
    "the engine pricing the history",
    () =>
      pool.query<{ n: number }>(
        "select count(*)::int as n from rules_priced_events where event_id like 'console-bt-%'",
      ),
    (r) => r.rows[0]?.n === HISTORY.length,
    90_000,
  );
  // The engine prices CDNOW too (it reads the purchases from the start), as it does in the demo.
  // Waited for here: a redemption meanwhile would queue behind it (202, not 201). It prices each
  // partition in order and a member's purchases share one, so once every member's last CDNOW
  // purchases are priced, all of CDNOW is. (Its committed offsets stay one short of the topic's
  // end, the ingestor's transaction marker, so the group's lag does not tell.)
  const latest = new Map<string, number>();
  for (const p of CDNOW) latest.set(p.memberId, Math.max(latest.get(p.memberId) ?? 0, p.eventTime));
  const lastOfMember = CDNOW.filter((p) => p.eventTime === latest.get(p.memberId)).map((p) => p.eventId);
  await waitFor(
    "the engine pricing CDNOW",
    () =>
      pool.query<{ n: number }>(
        "select count(*)::int as n from rules_priced_events where event_id = any($1::text[])",
        [lastOfMember],
      ),
    (r) => r.rows[0]?.n === lastOfMember.length,
    600_000,
  );
  console.log(
    `CDNOW: priced by the engine ${((Date.now() - t0) / 1000).toFixed(1)} s after the replay began`,
  );
  const earned = await pool.query<{ points: number }>(
    "select sum(points)::int as points from ledger_entries where kind = 'earn' and event_time >= $1",
    [new Date(NOW - 60 * DAY)],
  );
  earnedInLedger = earned.rows[0]?.points ?? 0;
  expect(earnedInLedger).toBeGreaterThan(memberEarned); // the member's and the history's

  consoleServer = await startConsoleServer({
    port: 0,
    host: "127.0.0.1",
    apiUrl: apiBase,
    dist: DIST,
    // As the backtest principal (the stack's credentials file), on the test's namespace.
    backtest: backtestConfigFromEnv({
      ...process.env,
      KAFKA_BROKERS: stack.kafkaBrokers.join(","),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      LOYALTY_NAMESPACE: ns,
      KAFKA_SASL_USERNAME: "",
      KAFKA_SASL_PASSWORD: "",
    }),
    // As the publisher principal, signed with the stack's dev key (the engine's RULES_PUBLIC_KEYS),
    // review required (CONSOLE_REVIEW's default).
    publish: publishConfigFromEnv({
      ...process.env,
      KAFKA_BROKERS: stack.kafkaBrokers.join(","),
      SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
      LOYALTY_NAMESPACE: ns,
      CONSOLE_REVIEW: "required",
    }),
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  mkdirSync(SHOTS, { recursive: true });
}, 900_000); // the CDNOW replay, its ingestion and the engine pricing it are most of it

afterAll(async () => {
  for (const s of services) expect(await s.stop()).toBe(0);
  await browser?.close();
  await consoleServer?.close();
  const code = await api?.stop();
  await pool?.end();
  expect(code).toBe(0);
});

/**
 * Accessibility basics of the page as it is: every input, select, textarea and button has an
 * accessible name (a label, aria-label or aria-labelledby; a button its text), and no action is
 * taken out of the tab order (tabindex -1) or is a link without href (not focusable). Returns the
 * offenders, empty when none.
 */
async function a11yProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const show = (e: Element) => e.outerHTML.slice(0, 100);
    for (const e of document.querySelectorAll("input, select, textarea, button")) {
      if (e instanceof HTMLInputElement && e.type === "hidden") continue;
      const labels = (e as HTMLInputElement).labels;
      const named =
        (labels !== null && labels.length > 0) ||
        (e.getAttribute("aria-label") ?? "").trim() !== "" ||
        (e.getAttribute("aria-labelledby") ?? "").trim() !== "" ||
        (e instanceof HTMLButtonElement && (e.textContent ?? "").trim() !== "");
      if (!named) out.push(`no accessible name: ${show(e)}`);
    }
    for (const e of document.querySelectorAll("a, button, input, select, textarea, [tabindex]")) {
      if (e.getAttribute("tabindex") === "-1") out.push(`out of the tab order: ${show(e)}`);
      if (e instanceof HTMLAnchorElement && !e.hasAttribute("href"))
        out.push(`link without href: ${show(e)}`);
    }
    return out;
  });
}

/** How far the page overflows the viewport sideways (<= 0: not at all). */
const sideways = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

async function signIn(page: Page, key: string) {
  await page.goto(`${consoleServer.url}/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

describe("the console in Chromium", () => {
  it("refuses a wrong key with a message, then works end to end with a marketer key", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const failed: string[] = [];
    page.on("pageerror", (e) => failed.push(e.message));

    // Wrong key: the login page again, with the reason.
    await signIn(page, "lk_0123456789abcdef_wrongwrongwrongwrongwrongwrongwrongwrongwro");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("not accepted");
    expect(await page.getByLabel("API key").isVisible()).toBe(true);
    expect(await a11yProblems(page)).toEqual([]);

    // Marketer key: signed in, the dashboard first.
    await signIn(page, marketerKey);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();

    // The chart: uPlot's canvas, drawn from the API's days (the ledger's earned, 30 redeemed).
    const figure = page.getByTestId("points-chart");
    await figure.waitFor();
    expect(Number(await figure.getAttribute("data-days"))).toBeGreaterThanOrEqual(3);
    expect(await figure.locator("canvas").count()).toBe(1);
    expect(await figure.locator("figcaption").textContent()).toContain(
      `${earnedInLedger.toLocaleString("en-US")} earned, 30 redeemed`,
    );
    const canvasBox = await figure.locator("canvas").boundingBox();
    expect(canvasBox?.width ?? 0).toBeGreaterThan(500);
    // Members per tier and churn alerts per week, from the API's read models of the topics.
    const tiersChart = page.getByTestId("tiers-chart");
    await tiersChart.waitFor({ timeout: 30_000 });
    expect(await tiersChart.getAttribute("data-tiers")).toBe("gold,silver");
    expect(Number(await tiersChart.getAttribute("data-weeks"))).toBeGreaterThanOrEqual(3);
    expect(await tiersChart.locator("canvas").count()).toBe(1);
    await expect
      .poll(() => tiersChart.locator("figcaption").textContent(), { timeout: 15_000, interval: 500 })
      .toContain("gold 2, silver 2");
    const alertsChart = page.getByTestId("alerts-chart");
    await alertsChart.waitFor({ timeout: 30_000 });
    expect(Number(await alertsChart.getAttribute("data-weeks"))).toBeGreaterThanOrEqual(3);
    expect(await alertsChart.locator("canvas").count()).toBe(1);
    await expect
      .poll(() => alertsChart.locator("figcaption").textContent(), { timeout: 15_000, interval: 500 })
      .toContain("5 alerts, 3 high-value-at-risk");
    expect((await alertsChart.locator("canvas").boundingBox())?.width ?? 0).toBeGreaterThan(500);
    await page.screenshot({ path: `${SHOTS}/console-dashboard.png`, fullPage: true });
    expect(statSync(`${SHOTS}/console-dashboard.png`).size).toBeGreaterThan(10_000);

    // Live: a redemption made meanwhile shows up without a reload (the page polls every 5 s).
    const r2 = await post(
      apiBase,
      `/v1/members/${MEMBER}/redemptions`,
      ADMIN_KEY,
      { points: 10 },
      {
        "idempotency-key": "console-e2e-2",
      },
    );
    expect(r2.status).toBe(201);
    await expect
      .poll(() => figure.locator("figcaption").textContent(), { timeout: 15_000, interval: 500 })
      .toContain(`${earnedInLedger.toLocaleString("en-US")} earned, 40 redeemed`);

    // Rules: the standard programme, read from loyalty.rules.v1 by the API's read model.
    await page.getByRole("link", { name: "Rules", exact: true }).click();
    const standard = page.locator('[data-ruleset="standard"]');
    await standard.waitFor({ timeout: 30_000 });
    expect(await standard.textContent()).toContain("console-test-publisher");
    await standard.getByRole("link", { name: "v1" }).click();
    await page.getByRole("cell", { name: "base-points v1" }).waitFor();

    // Draft: v2 of standard; an invalid status on the first rule → the message at its path.
    await page.getByRole("link", { name: "Draft editor", exact: true }).click();
    const editor = page.getByLabel("Draft rule set (JSON)");
    await editor.waitFor();
    const good = await editor.inputValue();
    expect(JSON.parse(good).version).toBe(2);
    const broken = JSON.parse(good);
    broken.rules[0].status = "sometimes";
    await editor.fill(JSON.stringify(broken, null, 2));
    const problem = page.locator('#draft-problems li[data-path="$.rules[0].status"]');
    await problem.waitFor();
    expect(await problem.getAttribute("data-rule")).toBe("base-points");
    expect(await problem.textContent()).toContain("must be one of");
    expect(await page.getByRole("button", { name: "Submit for publishing" }).isDisabled()).toBe(true);
    await page.setViewportSize({ width: 390, height: 844 });
    await problem.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/console-draft-390.png`, fullPage: true });
    expect(statSync(`${SHOTS}/console-draft-390.png`).size).toBeGreaterThan(10_000);
    await page.setViewportSize({ width: 1280, height: 900 });

    // Fixed: no problem left; submitted, the API stores the draft.
    await editor.fill(good);
    await page.getByText("No problems found by the schema.").waitFor();
    expect(await page.locator("#draft-problems").count()).toBe(0);
    await page.getByRole("button", { name: "Submit for publishing" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("submitted");
    const drafts = await pool.query<{ rule_set_id: string; version: number; submitted_by: string }>(
      "select rule_set_id, version, submitted_by from api_rule_drafts",
    );
    expect(drafts.rows).toEqual([
      { rule_set_id: "standard", version: 2, submitted_by: marketerKey.split("_")[1] },
    ]);

    // Member lookup: the ledger's balance (what the member earned − 30 − 10 redeemed), lots and history.
    await page.getByRole("link", { name: "Members", exact: true }).click();
    await page.getByLabel("Member id").fill(MEMBER);
    await page.getByLabel("Member id").press("Enter");
    const balance = page.getByTestId("balance");
    await balance.waitFor();
    const ledger = await pool.query<{ balance: number }>(
      "select balance from ledger_balances where member_id = $1",
      [MEMBER],
    );
    expect(ledger.rows[0]?.balance).toBe(memberEarned - 40);
    expect(await balance.textContent()).toBe(String(memberEarned - 40));
    // The churn card from the member's alert on loyalty.churn-alerts.v1.
    const card = page.getByRole("definition").filter({ hasText: "fit-console" });
    await card.waitFor({ timeout: 15_000 });
    expect(await page.getByLabel("Churn card").textContent()).toContain("high-value-at-risk");
    await page.getByRole("cell", { name: "base-points v1" }).first().waitFor();
    expect(await page.getByRole("cell", { name: "redeem", exact: true }).count()).toBe(2);
    // Live on the member page too: 5 more points redeemed, and a third history row.
    const r3 = await post(
      apiBase,
      `/v1/members/${MEMBER}/redemptions`,
      ADMIN_KEY,
      { points: 5 },
      {
        "idempotency-key": "console-e2e-3",
      },
    );
    expect(r3.body.balanceAfter).toBe(memberEarned - 45);
    await expect
      .poll(() => balance.textContent(), { timeout: 15_000, interval: 500 })
      .toBe(String(memberEarned - 45));
    await expect
      .poll(() => page.getByRole("cell", { name: "redeem", exact: true }).count(), { timeout: 15_000 })
      .toBe(3);

    // Every page, at 1280 and at 390 px: nothing overflows sideways, every input and button has
    // an accessible name, every action is in the tab order.
    const pages: Array<[string, () => Promise<unknown>]> = [
      ["Dashboard", () => page.getByTestId("points-chart").waitFor()],
      ["Rules", () => page.locator('[data-ruleset="standard"]').waitFor()],
      ["Draft editor", () => page.getByRole("button", { name: "Run backtest" }).waitFor()],
      ["Members", () => page.getByLabel("Member id").waitFor()],
    ];
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      for (const [link, shown] of pages) {
        await page.getByRole("link", { name: link, exact: true }).click();
        await shown();
        expect({ link, width, problems: await a11yProblems(page) }).toEqual({ link, width, problems: [] });
        expect({ link, width, overflow: Math.max(0, await sideways(page)) }).toEqual({
          link,
          width,
          overflow: 0,
        });
      }
    }
    await page.getByRole("link", { name: "Rules", exact: true }).click();
    await page.locator('[data-ruleset="standard"]').getByRole("link", { name: "v1" }).click();
    await page.getByRole("cell", { name: "base-points v1" }).waitFor();
    expect(await a11yProblems(page)).toEqual([]);
    expect(await sideways(page)).toBeLessThanOrEqual(0);
    // The member's page (lots, history) at 390 px.
    await page.goto(`${consoleServer.url}/members/${MEMBER}`);
    await page.getByTestId("balance").waitFor();
    expect(await a11yProblems(page)).toEqual([]);
    expect(await sideways(page)).toBeLessThanOrEqual(0);
    expect(failed).toEqual([]);
    await page.close();
  });

  it("shows a read-only key no publish button (signed in and navigated with the keyboard only)", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${consoleServer.url}/`);
    const focused = () =>
      page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent);
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("api-key");
    await page.keyboard.type(readKey);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    for (let i = 0; i < 10 && (await focused()) !== "Draft editor"; i++) await page.keyboard.press("Tab");
    expect(await focused()).toBe("Draft editor");
    await page.keyboard.press("Enter");
    await page.getByLabel("Draft rule set (JSON)").waitFor();
    await page.getByTestId("read-only").waitFor();
    expect(await page.getByRole("button", { name: "Submit for publishing" }).count()).toBe(0);
    // And the API refuses it a draft all the same (403 before the body is read).
    const refused = await post(apiBase, "/v1/rulesets/drafts", readKey, { ruleSet: {} });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("SCOPE_FORBIDDEN");
    // No backtest panel either, and the console server refuses it a backtest.
    expect(await page.getByRole("button", { name: "Run backtest" }).count()).toBe(0);
    const backtest = await post(consoleServer.url, "/console/backtest", readKey, {});
    expect(backtest.status).toBe(403);
    expect(backtest.body.error.code).toBe("SCOPE_FORBIDDEN");
    await page.close();
  });

  it("backtests a draft over CDNOW on the topic with the figures of loyalty rules backtest --from-topic", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, marketerKey);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.getByRole("link", { name: "Draft editor", exact: true }).click();
    const editor = page.getByLabel("Draft rule set (JSON)");
    await editor.waitFor();
    // The draft: base points doubled (base-points v2) and a new 7-point bonus on every order.
    const draft = JSON.parse(await editor.inputValue()) as {
      version: number;
      rules: Record<string, unknown>[];
    };
    expect(draft.version).toBe(2);
    draft.rules = draft.rules.map((r) =>
      r.id === "base-points"
        ? { ...r, version: 2, event: { type: "points-per-unit", params: { rate: "2", rounding: "floor" } } }
        : r,
    );
    draft.rules.push(CONSOLE_BONUS);
    await editor.fill(JSON.stringify(draft, null, 2));
    await page.getByText("No problems found by the schema.").waitFor();
    // The CDNOW range: every order of the master file (the recent synthetic ones are after it).
    const from = CDNOW_FROM;
    const to = CDNOW_TO;
    await page.getByLabel("From").fill(from);
    await page.getByLabel("To (excluded)").fill(to);
    const clicked = Date.now();
    await page.getByRole("button", { name: "Run backtest" }).click();
    const result = page.getByTestId("backtest-result");
    await result.waitFor({ timeout: 180_000 });
    const inBrowser = (Date.now() - clicked) / 1000;
    const shown = await page.locator("#backtest-rules tbody tr").evaluateAll((rows) =>
      rows.map((r) => ({
        ruleId: r.getAttribute("data-rule"),
        running: Number(r.querySelector('[data-col="running"]')?.textContent),
        draft: Number(r.querySelector('[data-col="draft"]')?.textContent),
        difference: Number(r.querySelector('[data-col="difference"]')?.textContent),
      })),
    );
    const liability = Number(await page.getByTestId("liability").getAttribute("data-minor"));

    // The CLI over the same topic, with the same draft beside the same published set.
    const dir = mkdtempSync(join(tmpdir(), "console-backtest-"));
    cpSync(`${STANDARD_RULES_DIR()}/programme.json`, join(dir, "programme.json"));
    writeFileSync(join(dir, "ruleset.json"), JSON.stringify(draft));
    const cliStarted = Date.now();
    const ran = await loyalty(
      ["rules", "backtest", dir, "--from-topic", "--running-published", "--from", from, "--to", to, "--json"],
      {
        PATH: process.env.PATH,
        LOYALTY_STACK_DIR: process.env.LOYALTY_STACK_DIR,
        KAFKA_BROKERS: stack.kafkaBrokers.join(","),
        SCHEMA_REGISTRY_URL: stack.schemaRegistryUrl,
        DATABASE_URL: stack.databaseUrl,
        LOYALTY_NAMESPACE: ns,
      },
    );
    console.log(
      `CDNOW backtest: ${inBrowser.toFixed(1)} s in the console (read and priced by its server), ` +
        `${((Date.now() - cliStarted) / 1000).toFixed(1)} s by the CLI`,
    );
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    const cli = JSON.parse(ran.stdout) as {
      runningFrom: string;
      history: { purchases: number; principal: string };
      byRule: {
        ruleId: string;
        running: { netPoints: number };
        draft: { netPoints: number };
        difference: number;
      }[];
      totals: {
        running: { netPoints: number };
        draft: { netPoints: number };
        difference: { netPoints: number; liabilityMinor: number };
      };
    };
    expect(cli.runningFrom).toContain("v1");
    // Every CDNOW purchase, read from the topic the ingestor wrote (the recent ones are after the window).
    expect(cli.history).toMatchObject({ purchases: CDNOW.length, principal: "backtest" });
    expect(CDNOW.length).toBe(69_659);
    expect(shown).toEqual([
      ...cli.byRule.map((r) => ({
        ruleId: r.ruleId,
        running: r.running.netPoints,
        draft: r.draft.netPoints,
        difference: r.difference,
      })),
      {
        ruleId: "(total)",
        running: cli.totals.running.netPoints,
        draft: cli.totals.draft.netPoints,
        difference: cli.totals.difference.netPoints,
      },
    ]);
    expect(liability).toBe(cli.totals.difference.liabilityMinor);
    // And the figures are the draft's: the bonus on each of CDNOW's orders, base points doubled.
    const inWindow = CDNOW;
    const bonus = shown.find((r) => r.ruleId === "console-bonus");
    expect(bonus).toEqual({
      ruleId: "console-bonus",
      running: 0,
      draft: 7 * inWindow.length,
      difference: 7 * inWindow.length,
    });
    const base = shown.find((r) => r.ruleId === "base-points");
    expect(base?.running).toBe(inWindow.reduce((s, p) => s + Math.floor(p.baseAmountMinor / 100), 0));
    expect(base?.draft).toBe(inWindow.reduce((s, p) => s + Math.floor((2 * p.baseAmountMinor) / 100), 0));
    expect(liability).toBeGreaterThan(0);
    // Simulate one order against the same draft: each rule's outcome and why, priced server-side.
    await page.getByLabel("Amount (USD)").fill("42.50");
    await page.getByLabel("Member tier").fill("gold");
    await page.getByLabel("Orders before").fill("0");
    await page.getByRole("button", { name: "Simulate" }).click();
    await page.getByTestId("simulation").waitFor();
    const sim = async (rule: string) => {
      const row = page.locator(`#simulation-rules tr[data-rule="${rule}"]`);
      return [
        await row.getAttribute("data-outcome"),
        Number(await row.locator('[data-col="points"]').textContent()),
      ];
    };
    expect(await sim("console-bonus")).toEqual(["awarded", 7]);
    expect(await sim("base-points")).toEqual(["awarded", 85]); // floor(2 x 42.50)
    expect(await sim("tier-gold")).toEqual(["awarded", 42]); // floor(85 x 0.5)
    expect(await sim("first-purchase")).toEqual(["awarded", 100]);
    expect(await sim("tier-platinum")).toEqual(["conditions-false", 0]);
    expect(
      await page.locator('#simulation-rules tr[data-rule="tier-platinum"] td.why').textContent(),
    ).toContain('member.tier equal "platinum"');
    expect(await sim("referral-referee")).toEqual(["other-trigger", 0]);
    await result.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/console-backtest.png`, fullPage: true });
    expect(statSync(`${SHOTS}/console-backtest.png`).size).toBeGreaterThan(10_000);
    // At 390 px the result scrolls inside its tables, not the page.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  }, 300_000); // two backtests of CDNOW (the console's and the CLI's), each reading the topic

  it("publishes an approved draft: the engine runs it and a member gets the new rule's points", async () => {
    // The ingestor and the engine, started in beforeAll (wall clock, as `loyalty up` runs them).
    await waitFor(
      "the engine running standard v1",
      () => pool.query<{ version: number }>("select version from rule_sets where rule_set_id = 'standard'"),
      (r) => r.rows.some((x) => x.version === 1),
      90_000,
    );

    // The author: a draft v2 with a new rule, submitted from the editor.
    const author = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(author, marketerKey);
    await author.getByRole("heading", { name: "Dashboard" }).waitFor();
    await author.getByRole("link", { name: "Draft editor", exact: true }).click();
    const editor = author.getByLabel("Draft rule set (JSON)");
    await editor.waitFor();
    const draft = JSON.parse(await editor.inputValue()) as {
      version: number;
      rules: Record<string, unknown>[];
    };
    draft.rules.push(CONSOLE_BONUS);
    await editor.fill(JSON.stringify(draft, null, 2));
    await author.getByRole("button", { name: "Submit for publishing" }).click();
    await author.getByRole("link", { name: "Review and publish" }).click();
    await author.getByTestId("own-draft").waitFor();
    expect(await author.getByTestId("draft-status").textContent()).toBe("submitted");
    const draftId = author.url().split("/drafts/")[1] ?? "";
    expect(draftId).toMatch(/^drf-/);
    // Review required: the author's own key may neither approve (no button; the API refuses it)
    // nor publish before a second key approves.
    expect(await author.getByRole("button", { name: "Approve" }).count()).toBe(0);
    expect(await author.getByRole("button", { name: "Publish" }).isDisabled()).toBe(true);
    const self = await post(apiBase, `/v1/rulesets/drafts/${draftId}/reviews`, marketerKey, {
      decision: "approve",
    });
    expect(self.body.error.code).toBe("DRAFT_SELF_REVIEW");
    const early = await post(consoleServer.url, `/console/drafts/${draftId}/publish`, marketerKey, {});
    expect([early.status, early.body.error.code]).toEqual([409, "APPROVAL_REQUIRED"]);
    // A read-only key: no publish button, and the console server answers it 403.
    const reader = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(reader, readKey);
    await reader.getByRole("heading", { name: "Dashboard" }).waitFor();
    await reader.goto(`${consoleServer.url}/drafts/${draftId}`);
    await reader.getByTestId("draft-status").waitFor();
    expect(await reader.getByRole("button", { name: "Publish" }).count()).toBe(0);
    const byReader = await post(consoleServer.url, `/console/drafts/${draftId}/publish`, readKey, {});
    expect([byReader.status, byReader.body.error.code]).toEqual([403, "SCOPE_FORBIDDEN"]);
    await reader.close();

    // The reviewer approves and publishes.
    const reviewer = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(reviewer, reviewerKey);
    await reviewer.getByRole("heading", { name: "Dashboard" }).waitFor();
    await reviewer.goto(`${consoleServer.url}/drafts/${draftId}`);
    // What the reviewer is approving: the draft against the published v1, path by path.
    const added = reviewer.locator('#diff-rules tr[data-rule="console-bonus"]');
    await added.waitFor();
    expect(await added.getAttribute("data-kind")).toBe("added");
    expect(await reviewer.locator("#diff-rules tbody tr").count()).toBe(1);
    await reviewer.getByLabel("Review note").fill("checked the backtest");
    await reviewer.getByRole("button", { name: "Approve" }).click();
    await expect.poll(() => reviewer.getByTestId("draft-status").textContent()).toBe("approved");
    await reviewer.getByRole("button", { name: "Publish" }).click();
    await expect
      .poll(() => reviewer.getByRole("status").textContent(), { timeout: 30_000 })
      .toContain("Published standard v2");
    // The audit trail: submitted, approved (by whom, why), published (signed, naming publisher,
    // draft and approver), once the API has read the publication from the topic.
    await expect
      .poll(() => reviewer.getByTestId("draft-status").textContent(), { timeout: 30_000 })
      .toBe("published");
    const trail = await reviewer
      .locator("#audit-trail tbody tr")
      .evaluateAll((rows) =>
        rows.map((r) => [
          r.getAttribute("data-event"),
          r.children[1]?.textContent ?? "",
          r.children[3]?.textContent ?? "",
        ]),
      );
    const reviewerId = reviewerKey.split("_")[1] ?? "";
    expect(trail.map((t) => t[0])).toEqual(["submitted", "approved", "published"]);
    expect(trail[0]?.[1]).toBe(`key ${marketerKey.split("_")[1]}`);
    expect(trail[1]?.slice(1)).toEqual([`key ${reviewerId}`, "checked the backtest"]);
    expect(trail[2]?.[1]).toBe(`${reviewerId} via console (draft ${draftId}, approved by ${reviewerId})`);
    await reviewer.screenshot({ path: `${SHOTS}/console-review.png`, fullPage: true });
    expect(statSync(`${SHOTS}/console-review.png`).size).toBeGreaterThan(10_000);

    // The engine accepts v2 (signed by the key it trusts) and runs it.
    await waitFor(
      "the engine running standard v2",
      () => pool.query<{ version: number }>("select version from rule_sets where rule_set_id = 'standard'"),
      (r) => r.rows.some((x) => x.version === 2),
      60_000,
    );
    // A new order on orders.v1, as a shop sends it: the ingestor makes it a purchase, the engine
    // prices it with v2.
    const shopper = "console-shopper";
    const producer = principalKafka(stack.kafkaBrokers, "upstream").producer();
    await producer.connect();
    try {
      await producer.send({
        topic: namespacedTopics(ns).orders.name,
        messages: [
          {
            key: shopper,
            value: JSON.stringify({
              source: "web",
              type: "ORDER_PLACED",
              orderId: "console-order-1",
              customerId: shopper,
              occurredAt: new Date().toISOString(),
              currency: "USD",
              totalMinor: 4_250,
              lines: [],
            }),
          },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const entries = await waitFor(
      "the order's ledger entries",
      () =>
        pool.query<{ rule_id: string; points: number; rule_set_version: number }>(
          "select rule_id, points, rule_set_version from ledger_entries where member_id = $1 order by rule_id",
          [shopper],
        ),
      (r) => r.rows.some((x) => x.rule_id === "console-bonus"),
      60_000,
    );
    expect(entries.rows.find((x) => x.rule_id === "console-bonus")).toEqual({
      rule_id: "console-bonus",
      points: 7,
      rule_set_version: 2,
    });
    // The member's page shows the entry with the new rule's id.
    await reviewer.getByRole("link", { name: "Members", exact: true }).click();
    await reviewer.getByLabel("Member id").fill(shopper);
    await reviewer.getByLabel("Member id").press("Enter");
    await reviewer.getByRole("cell", { name: "console-bonus v1" }).waitFor({ timeout: 15_000 });
    // The two published versions compared: v1 -> v2 adds console-bonus, and the version moved.
    await reviewer.getByRole("link", { name: "Rules", exact: true }).click();
    await reviewer.locator('[data-ruleset="standard"] table').getByRole("link", { name: "v2" }).click();
    await reviewer.getByRole("link", { name: "Compare with v1" }).click();
    await reviewer.locator('#diff-rules tr[data-rule="console-bonus"]').waitFor();
    expect(await reviewer.locator('#diff-paths tr[data-path="$.version"]').textContent()).toContain("12");
    await author.close();
    await reviewer.close();
  }, 120_000);
});

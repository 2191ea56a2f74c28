// The dashboard against the real services: all five run as child processes on the real stack
// (own namespace, own ports), real orders flow through them (a refund, a tier-qualifying
// order, a poison message, an API redemption), and then every metric each panel uses must be in
// the /metrics of the service(s) the panel is about, with samples. The same check is shown to
// fail on mutated copies of the dashboard.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { namespacedTopics } from "@loyalty/contracts";
import {
  type RunningService,
  type TestStack,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Inputs } from "../../../services/rules-engine/test/int/harness.ts";
import { type Dashboard, checkDashboard, panelsOf } from "../src/check.ts";
import { type Family, parseExposition, resolveMetric } from "../src/exposition.ts";
import { SERVICES } from "../src/services.ts";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const DASHBOARD = fileURLToPath(new URL("../grafana/dashboards/loyalty.json", import.meta.url));
const ADMIN_KEY = "observability-test-admin-key-0123456789abcdef";
const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, "utf8"));
const jobs: string[] = (
  parseYaml(readFileSync(fileURLToPath(new URL("../prometheus.yml", import.meta.url)), "utf8")) as {
    scrape_configs: Array<{ job_name: string }>;
  }
).scrape_configs.map((j) => j.job_name);

/** A free port that is not one of the ops ports a running demo uses (9101-9105). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const a = s.address();
        const p = typeof a === "object" && a ? a.port : 0;
        s.close(() => resolve(p));
      });
    });
    if (port < 9101 || port > 9105) return port;
  }
}

let stack: TestStack;
const running: Array<{ name: string; svc: RunningService }> = [];
const opsPort = new Map<string, number>();
let apiBase = "";
/** The last scrape of each service, by service name. */
let scraped = new Map<string, Map<string, Family>>();

async function scrapeAll(): Promise<Map<string, Map<string, Family>>> {
  const out = new Map<string, Map<string, Family>>();
  for (const s of SERVICES) {
    const res = await fetch(`http://127.0.0.1:${opsPort.get(s.name)}/metrics`, {
      signal: AbortSignal.timeout(5000),
    });
    expect(res.status, `${s.name} /metrics`).toBe(200);
    out.set(s.name, parseExposition(await res.text()));
  }
  return out;
}

/** Sum of the samples called `name` (a histogram's `_count` too) whose labels include `labels`. */
function total(s: Map<string, Map<string, Family>>, service: string, name: string, labels = {}): number {
  const families = s.get(service);
  const samples = (families && resolveMetric(families, name)?.samples) ?? [];
  return samples
    .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .reduce((a, x) => a + x.value, 0);
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const r of running)
      if (r.svc.child.exitCode !== null) throw new Error(`${r.name} exited with ${r.svc.child.exitCode}`);
    const v = await probe().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

const order = (orderId: string, customerId: string, totalMinor: number, at: string) => ({
  source: "obs-test-shop",
  type: "ORDER_PLACED",
  orderId,
  customerId,
  occurredAt: at,
  currency: "USD",
  totalMinor,
  lines: [
    {
      lineId: "1",
      sku: "SKU-1",
      category: "tea",
      quantity: 1,
      unitPriceMinor: totalMinor,
      lineTotalMinor: totalMinor,
    },
  ],
  channel: "web",
  storeId: null,
});

beforeAll(async () => {
  stack = await requireStack();
  const ns = testNamespace();
  const apiPort = await freePort();
  for (const s of SERVICES) opsPort.set(s.name, await freePort());
  apiBase = `http://127.0.0.1:${apiPort}`;
  // The rules engine never publishes rules itself: as `loyalty up` does, the standard programme is
  // published first, signed, as the publisher principal.
  await new Inputs(stack, ns).publishProgramme();
  for (const s of SERVICES) {
    const env = serviceEnv(stack, ns, {
      SERVICE_NAME: s.name,
      HTTP_PORT: String(opsPort.get(s.name)),
      CHURN_IDLE_MS: "1000",
      API_PORT: String(apiPort),
      API_ADMIN_KEY: ADMIN_KEY,
    });
    running.push({ name: s.name, svc: await spawnService(`${REPO}services/${s.name}/src/main.ts`, env) });
  }
  for (const s of SERVICES)
    await until(`${s.name} healthy`, async () => {
      const r = await fetch(`http://127.0.0.1:${opsPort.get(s.name)}/healthz`, {
        signal: AbortSignal.timeout(2000),
      });
      return r.ok ? true : null;
    });

  // Real orders, as an upstream shop sends them: JSON on orders.v1, keyed by customer.
  const topics = namespacedTopics(ns);
  const producer = testKafka(stack.kafkaBrokers).producer();
  await producer.connect();
  const records = [
    order("O-1", "obs-c1", 4_500, "2026-11-01T09:00:00Z"),
    order("O-2", "obs-c2", 2_000, "2026-11-01T10:00:00Z"),
    order("O-3", "obs-c1", 30_000, "2026-11-02T09:00:00Z"), // past Gold's 250 USD: a tier change
    order("O-4", "obs-c3", 1_200, "2026-11-02T11:00:00Z"),
    {
      source: "obs-test-shop",
      type: "ORDER_REFUNDED",
      orderId: "O-2",
      refundId: "R-1",
      customerId: "obs-c2",
      occurredAt: "2026-11-03T09:00:00Z",
      currency: "USD",
      totalMinor: 2_000,
      refundedLineIds: ["1"],
    },
  ].map((o) => ({ key: o.customerId, value: JSON.stringify(o) }));
  // A poison message: dead-lettered with its reason code.
  records.push({ key: "obs-c9", value: "{not json" });
  await producer.send({ topic: topics.orders.name, messages: records });
  await producer.disconnect();

  // Effects, read from the services' own metrics: the ledger has points for obs-c1 ...
  await until("points earned and reversed", async () => {
    const s = await scrapeAll();
    return total(s, "rules-engine", "loyalty_points_total", { kind: "EARNED" }) > 0 &&
      total(s, "rules-engine", "loyalty_points_total", { kind: "REVERSED" }) > 0
      ? true
      : null;
  });
  // ... so the member API can redeem some of them (and answer a few reads).
  const redeem = await fetch(`${apiBase}/v1/members/obs-c1/redemptions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${ADMIN_KEY}`,
      "content-type": "application/json",
      "idempotency-key": "obs-redeem-1",
    },
    body: JSON.stringify({ points: 10 }),
  });
  expect(redeem.status, await redeem.clone().text()).toBeLessThan(300);
  for (const id of ["obs-c1", "obs-c2", "obs-nobody"])
    await fetch(`${apiBase}/v1/members/${id}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });

  scraped = await until("every figure the dashboard shows", async () => {
    const s = await scrapeAll();
    const ready =
      total(s, "ingestor", "loyalty_ingest_events_total", { outcome: "accepted" }) >= 5 &&
      total(s, "ingestor", "loyalty_messages_dead_lettered_total") >= 1 &&
      total(s, "tier-evaluator", "loyalty_tier_changes_total") >= 1 &&
      total(s, "rules-engine", "loyalty_ledger_movements_total", { kind: "REDEEMED" }) >= 1 &&
      total(s, "churn-alert", "loyalty_messages_processed_total") >= 5 &&
      SERVICES.every((x) => total(s, x.name, "loyalty_messages_processed_total") > 0);
    return ready ? s : null;
  });
}, 420_000);

afterAll(async () => {
  // Two-phase shutdown of every service; a hung one is killed.
  await Promise.all(
    running.map(async ({ svc }) => {
      const timer = setTimeout(() => void svc.kill(), 30_000);
      await svc.stop();
      clearTimeout(timer);
    }),
  );
}, 60_000);

describe("the Grafana dashboard against the services' real /metrics", () => {
  it("uses only metrics the services export, each with samples, on every panel", () => {
    const panels = panelsOf(dashboard()).filter((p) => p.type !== "row");
    expect(panels.length).toBeGreaterThanOrEqual(20);
    expect(checkDashboard(dashboard(), scraped, jobs)).toEqual([]);
  });

  it("shows the flow's effects in the figures the panels read", () => {
    expect(total(scraped, "ingestor", "loyalty_ingest_events_total", { outcome: "accepted" })).toBe(5);
    expect(
      total(scraped, "ingestor", "loyalty_messages_dead_lettered_total", { code: "MALFORMED_JSON" }),
    ).toBe(1);
    expect(total(scraped, "ingestor", "loyalty_messages_produced_total")).toBeGreaterThanOrEqual(6);
    expect(
      total(scraped, "tier-evaluator", "loyalty_tier_changes_total", { direction: "UP" }),
    ).toBeGreaterThanOrEqual(1);
    // The engine writes (and counts) the API's redemptions: they are ledger commands (ADR 16 step 3).
    expect(total(scraped, "rules-engine", "loyalty_points_total", { kind: "REDEEMED" })).toBe(10);
    expect(
      total(scraped, "api", "loyalty_http_requests_total", {
        route: "/v1/members/:memberId/redemptions",
        method: "POST",
      }),
    ).toBe(1);
    expect(total(scraped, "api", "loyalty_http_request_duration_seconds_count")).toBeGreaterThanOrEqual(4);
  });

  it("reports a panel whose metric no service exports", () => {
    const d = dashboard();
    const panel = panelsOf(d).find((p) => p.title === "Records in")!;
    panel.targets![0]!.expr = panel.targets![0]!.expr!.replace(
      "loyalty_messages_processed_total",
      "loyalty_records_consumed_total",
    );
    const problems = checkDashboard(d, scraped, jobs);
    expect(problems).toContain(
      'panel "Records in": loyalty_records_consumed_total is not in the /metrics of ingestor',
    );
    expect(problems).toHaveLength(SERVICES.length);
  });

  it("reports a panel that asks a service for a metric only another one has", () => {
    const d = dashboard();
    const panel = panelsOf(d).find((p) => p.title === "API requests")!;
    panel.targets![0]!.expr = panel.targets![0]!.expr!.replace('service="api"', 'service="ingestor"');
    expect(checkDashboard(d, scraped, jobs)).toEqual([
      'panel "API requests": loyalty_http_requests_total is not in the /metrics of ingestor',
    ]);
  });

  it("reports a histogram without its _bucket suffix, a wrong label, label value, job and legend", () => {
    const d = dashboard();
    const byTitle = (t: string) => panelsOf(d).find((p) => p.title === t)!.targets![0]!;
    byTitle("Batch duration p50 / p99").expr = 'sum(rate(loyalty_batch_duration_seconds{service="api"}[5m]))';
    byTitle("Tier changes").expr =
      'sum(rate(loyalty_tier_changes_total{service="tier-evaluator", tier="Gold"}[5m]))';
    byTitle("Targets up").expr = 'up{job="loyalty-engine"}';
    byTitle("Dead letters by reason").legendFormat = "{{service}} {{reason}}";
    byTitle("Redemptions").expr = byTitle("Redemptions").expr!.replace('kind="REDEEMED"', 'kind="REDEEM"');
    expect(checkDashboard(d, scraped, jobs)).toEqual([
      'panel "Batch duration p50 / p99": loyalty_batch_duration_seconds is not in the /metrics of api',
      'panel "Targets up": up: job "loyalty-engine" is not a job of the Prometheus config (loyalty, prometheus)',
      'panel "Redemptions": loyalty_ledger_movements_total: no sample has kind="REDEEM"',
      'panel "Tier changes": loyalty_tier_changes_total: no sample has the label "tier"',
      'panel "Dead letters by reason": the legend\'s {{reason}} is not a label of its series',
    ]);
  });
});

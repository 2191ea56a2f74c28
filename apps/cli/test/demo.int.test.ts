// `loyalty demo` against the real stack, the engine's five services run by the CLI itself, in a
// namespace of this test; then the state commands (tiers stats, ledger verify/balance, churn
// model/report, member show) against what the demo left, and the demo's hints run as printed.
import { join } from "node:path";
import { AvroCodec, namespacedTopics } from "@loyalty/contracts";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, cli, cliProcess, shell, stackEnv } from "./helpers.ts";

const LIMIT = 1500;

interface DemoJson {
  namespace: string;
  refused: string | null;
  replay: {
    sent: number;
    seconds: number;
    noticedAtSeconds: number;
    lastToCatchUp: string;
    caughtUpAtSeconds: Record<string, number>;
  } | null;
  figures: {
    namespace: string;
    ledger: {
      pointsIssued: number;
      pointsOutstanding: number;
      entries: number;
      members: number;
      consistent: boolean;
    };
    tiers: { counts: Record<string, number>; at: number; members: number };
    churn: { alerts: number; modelVersion: string | null };
    deadLetters: number;
    topMember: string | null;
  };
  hints: { memberShow: string | null; tiersStats: string; ledgerVerify: string; churnReport: string };
}

let stack: TestStack;
let ns: string;
let env: NodeJS.ProcessEnv;
let first: DemoJson;
let db: pg.Client;

/** Only what a fresh shell at the repository root has: pnpm on the PATH, nothing of this engine. */
const bareShell = (): NodeJS.ProcessEnv => ({
  PATH: `${join(REPO, ".tools/node_modules/.bin")}:${process.env.PATH}`,
  HOME: process.env.HOME,
});

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  env = stackEnv(stack, ns, {
    LOYALTY_OPS_PORT_BASE: "19511",
    API_PORT: "18511",
    LOG_LEVEL: "warn",
    CONSUMER_SESSION_TIMEOUT_MS: "10000",
  });
  // One live order first, as the hints of `loyalty up` suggest: it must not stop a demo there.
  expect((await cli(["migrate"], env)).code).toBe(0);
  const live = JSON.stringify({
    source: "pos",
    type: "ORDER_PLACED",
    orderId: "live-1",
    customerId: "live-c1",
    occurredAt: "1997-01-01T09:00:00Z",
    currency: "USD",
    totalMinor: 2500,
    lines: [],
  });
  const sent = await cliProcess(["replay", "-", "--format", "jsonl", "--quiet"], { env, input: live });
  expect(sent.code).toBe(0);
  const r = await cliProcess(["demo", "--limit", String(LIMIT), "--json"], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`demo exited ${r.code}: ${r.stderr}`);
  first = JSON.parse(r.stdout) as DemoJson;
  db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  await db.query(`set search_path = ${ns}`);
}, 360_000);

afterAll(async () => {
  await db?.end();
});

describe("loyalty demo", () => {
  it("replays CDNOW into a namespace holding one live order, and the live order is processed too", async () => {
    expect(first.namespace).toBe(ns);
    expect(first.refused).toBeNull();
    expect(first.replay?.sent).toBe(LIMIT);
    const live = await db.query("select 1 from ledger_balances where member_id = 'live-c1'");
    expect(live.rowCount).toBe(1);
    expect(first.figures.ledger.consistent).toBe(true);
    expect(first.figures.ledger.pointsIssued).toBeGreaterThan(0);
  });

  it("reports the time the last service caught up, before the loop noticed", () => {
    const r = first.replay;
    if (!r) throw new Error("no replay");
    const times = Object.values(r.caughtUpAtSeconds);
    expect(r.seconds).toBeCloseTo(Math.max(...times), 3);
    expect(r.caughtUpAtSeconds[r.lastToCatchUp]).toBeCloseTo(r.seconds, 3);
    // The loop needs two quiet polls (0.5 s apart) after the last change to be sure.
    expect(r.noticedAtSeconds - r.seconds).toBeGreaterThanOrEqual(0.9);
    for (const s of ["ingestor", "rules-engine", "tier-evaluator", "churn-alert", "api"])
      expect(r.caughtUpAtSeconds[s]).toBeLessThanOrEqual(r.seconds);
  });

  it("every figure equals what the CLI's commands report on the same state", async () => {
    const tiers = JSON.parse(
      (await cli(["tiers", "stats", "--json"], env)).stdout,
    ) as DemoJson["figures"]["tiers"];
    expect(tiers.counts).toEqual(first.figures.tiers.counts);
    expect(tiers.at).toBe(first.figures.tiers.at);
    expect(tiers.members).toBe(first.figures.tiers.members);

    const ledger = await cli(["ledger", "verify", "--json"], env);
    expect(ledger.code).toBe(0);
    expect(JSON.parse(ledger.stdout)).toMatchObject({
      pointsIssued: first.figures.ledger.pointsIssued,
      pointsOutstanding: first.figures.ledger.pointsOutstanding,
      entries: first.figures.ledger.entries,
      members: first.figures.ledger.members,
      differences: [],
    });

    const churn = JSON.parse(
      (await cli(["churn", "report", "--json"], env)).stdout,
    ) as DemoJson["figures"]["churn"];
    expect(churn.alerts).toBe(first.figures.churn.alerts);
    expect(churn.modelVersion).toBe(first.figures.churn.modelVersion);
  });

  it("the figures match the engine's effects: rows, and alerts on the topic", async () => {
    const members = await db.query<{ n: number }>("select count(*)::int as n from tier_members");
    expect(first.figures.tiers.members).toBe(members.rows[0]?.n);
    expect(Object.values(first.figures.tiers.counts).reduce((a, b) => a + b, 0)).toBe(members.rows[0]?.n);
    const balances = await db.query<{ n: number }>(
      "select coalesce(sum(balance), 0)::int as n from ledger_balances",
    );
    expect(first.figures.ledger.pointsOutstanding).toBe(balances.rows[0]?.n);
    // The alerts topic also carries churn-alert's frontier markers (null values, ADR 12).
    const alerts = first.figures.churn.alerts;
    const isAlert = (m: { value: Buffer | null }) => m.value !== null && m.value.length > 0;
    const msgs = await readTopic(
      testKafka(stack.kafkaBrokers),
      namespacedTopics(ns).churnAlerts.name,
      (m) => m.filter(isAlert).length >= alerts,
    );
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const onTopic = await Promise.all(
      msgs
        .filter(isAlert)
        .map(async (m) => (await codec.decode<{ eventId: string }>(m.value as Buffer)).eventId),
    );
    const rows = await db.query<{ event_id: string }>("select event_id from churn_alerts order by 1");
    expect(onTopic.sort()).toEqual(rows.rows.map((r) => r.event_id).sort());
    expect(onTopic).toHaveLength(alerts);
    const top = await db.query<{ member_id: string }>(
      "select member_id from ledger_balances order by balance desc, member_id limit 1",
    );
    expect(first.figures.topMember).toBe(top.rows[0]?.member_id);
  });

  it("its hints work exactly as printed, in a shell with nothing of this engine's environment", async () => {
    const h = first.hints;
    expect(h.memberShow).toContain(`LOYALTY_NAMESPACE=${ns} `);
    expect(h.memberShow).toContain(`DATABASE_URL=${stack.databaseUrl} `);
    const member = first.figures.topMember;
    if (!h.memberShow || !member) throw new Error("no member hint");
    const shown = await shell(h.memberShow, { env: bareShell() });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`member ${member} (open)`);

    const tiers = await shell(h.tiersStats, { env: bareShell() });
    expect(tiers.code).toBe(0);
    for (const [tier, n] of Object.entries(first.figures.tiers.counts))
      expect(tiers.stdout).toMatch(new RegExp(`\\n {2}${tier} +${n} `));
    expect((await shell(h.ledgerVerify, { env: bareShell() })).code).toBe(0);
    expect((await shell(h.churnReport, { env: bareShell() })).stdout).toContain(
      `${first.figures.churn.alerts} alerts`,
    );

    // Without the variables the hint carries, the same command looks elsewhere and fails.
    const bare = await shell(`pnpm -s loyalty member show ${member}`, { env: bareShell() });
    expect(bare.code).not.toBe(0);
  });

  it("member show and ledger balance agree with the ledger's rows", async () => {
    const member = first.figures.topMember;
    if (!member) throw new Error("no member");
    const row = await db.query<{ balance: number }>(
      "select balance from ledger_balances where member_id = $1",
      [member],
    );
    const shown = await cli(["member", "show", member, "--json"], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ memberId: member, balance: row.rows[0]?.balance });
    const bal = await cli(["ledger", "balance", member, "--json"], env);
    expect(JSON.parse(bal.stdout)).toMatchObject({ memberId: member, balance: row.rows[0]?.balance });
    const unknown = await cli(["member", "show", "no-such-member"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/member no-such-member is not known in namespace/);
  });

  it("tiers stats --at a day counts only members who had joined by then", async () => {
    const r = await cli(["tiers", "stats", "--at", "1997-01-02", "--json"], env);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as {
      counts: Record<string, number>;
      notJoined: number;
      members: number;
      at: number;
    };
    expect(t.at).toBe(Date.UTC(1997, 0, 2, 23, 59, 59, 999));
    const joined = Object.values(t.counts).reduce((a, b) => a + b, 0);
    expect(joined + t.notJoined).toBe(t.members);
    expect(t.notJoined).toBeGreaterThan(0);
  });

  it("churn model lists the stored fits, the one in force first", async () => {
    const r = await cli(["churn", "model", "--json"], env);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as { inForce: string | null; fits: Array<{ modelVersion: string }> };
    const engine = await db.query<{ model_version: string | null }>("select model_version from churn_engine");
    const fits = await db.query<{ n: number }>("select count(*)::int as n from churn_fits");
    expect(m.inForce).toBe(engine.rows[0]?.model_version ?? null);
    expect(m.fits).toHaveLength(Math.min(20, fits.rows[0]?.n ?? 0));
    if (m.inForce !== null) expect(m.fits[0]?.modelVersion).toBe(m.inForce);
  });

  it("churn model --refit asks the service (a request row); --refit --as-of fits here and stores the fit", async () => {
    const req = await cli(["churn", "model", "--refit", "--json"], env);
    expect(req.code).toBe(0);
    const { requested } = JSON.parse(req.stdout) as { requested: number };
    const row = await db.query("select 1 from churn_refit_requests where id = $1", [requested]);
    expect(row.rowCount).toBe(1);

    const asOf = await cli(["churn", "model", "--refit", "--as-of", "1997-01-05", "--json"], env);
    expect(asOf.code).toBe(0);
    const fit = JSON.parse(asOf.stdout) as { modelVersion: string; trigger: string; members: number };
    expect(fit.trigger).toBe("as-of");
    const stored = await db.query<{ trigger: string }>(
      "select trigger from churn_fits where model_version = $1",
      [fit.modelVersion],
    );
    expect(stored.rows).toEqual([{ trigger: "as-of" }]);
  });

  it("member show --at shows the member as of that instant; ledger balance of a stranger exits 1", async () => {
    const member = first.figures.topMember;
    if (!member) throw new Error("no member");
    const r = await cli(["member", "show", member, "--at", "1997-01-03T00:00:00Z", "--json"], env);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { asOf: string }).asOf).toBe("1997-01-03T00:00:00.000Z");
    const stranger = await cli(["ledger", "balance", "no-such-member"], env);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toMatch(/no-such-member has no ledger balance/);
  });

  it("a second demo in the same namespace is refused (exit 1) and reports what the engine holds", async () => {
    const r = await cliProcess(["demo", "--limit", String(LIMIT), "--json"], { env, timeoutMs: 300_000 });
    expect(r.code).toBe(1);
    const again = JSON.parse(r.stdout) as DemoJson;
    expect(again.refused).toMatch(new RegExp(`already ingested ${LIMIT} of the ${LIMIT} CDNOW orders`));
    expect(again.refused).toContain("pnpm loyalty demo --fresh");
    expect(again.replay).toBeNull();
    expect(again.figures.tiers.counts).toEqual(first.figures.tiers.counts);
    expect(again.figures.ledger.pointsIssued).toBe(first.figures.ledger.pointsIssued);
  }, 300_000);

  it("ledger verify finds a balance that disagrees with its entries: exit 1, naming the member", async () => {
    const member = first.figures.topMember;
    if (!member) throw new Error("no member");
    await db.query("update ledger_balances set balance = balance + 7 where member_id = $1", [member]);
    try {
      const r = await cli(["ledger", "verify", "--json"], env);
      expect(r.code).toBe(1);
      const out = JSON.parse(r.stdout) as {
        consistent: boolean;
        differences: Array<{ id: string; check: string }>;
      };
      expect(out.consistent).toBe(false);
      expect(out.differences).toContainEqual(
        expect.objectContaining({ id: member, check: "balance-vs-entries" }),
      );
    } finally {
      await db.query("update ledger_balances set balance = balance - 7 where member_id = $1", [member]);
    }
    expect((await cli(["ledger", "verify"], env)).code).toBe(0);
  });
});

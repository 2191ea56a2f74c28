// The console's routes (ADR 18) against the real stack, every answer held to the OpenAPI document
// by `call`: the rules read model (two signed versions published on loyalty.rules.v1 as the
// publisher, read into api_rule_sets, listed newest first; a restarted API resumes and leaves the
// stored rows as they were), a version with its rules, drafts (422 with every problem at its rule
// and path, 201 stored for a marketer key, 403 for a read key), the marketer scope (reads what
// read reads, may not redeem), a member's lots, and points per day from the ledger.
import type { ChildProcess } from "node:child_process";
import { AvroCodec, namespacedTopics } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import {
  STANDARD_RULES_DIR,
  publishRuleSet,
  readRuleSetSource,
  signerOf,
  signingKeyFromEnv,
  validateRuleSet,
} from "@loyalty/rules-engine";
import {
  type TestStack,
  devRulesKeyEnv,
  grantTestNamespace,
  publisherKafka,
  requireStack,
  testNamespace,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService as startRulesEngine, stopService } from "../../../rules-engine/test/int/harness.ts";
import { ADMIN_KEY, type Api, DAY, call, namespacePool, seedLots, startApi, waitFor } from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api;
/** The ledger's owner, started once the rule-set tests have published their versions. */
let engine: ChildProcess | undefined;
let marketer: string;
let reader: string;
let reviewer: string;
const NOW = Date.now();
const admin = { key: ADMIN_KEY };

async function publish(version: number, publisher: string) {
  const source = readRuleSetSource(STANDARD_RULES_DIR()).json as Record<string, unknown>;
  const checked = validateRuleSet({ ...source, version });
  if (!checked.ok) throw new Error("rules/standard does not validate");
  const key = signingKeyFromEnv({ ...devRulesKeyEnv(), ...process.env });
  if (key === null) throw new Error("no dev signing key (pnpm loyalty stack up makes one)");
  const codec = new AvroCodec(stack.schemaRegistryUrl);
  const topic = namespacedTopics(ns).rules;
  await codec.registerAll([topic]);
  await grantTestNamespace(stack.kafkaBrokers, ns);
  await publishRuleSet(
    publisherKafka(stack.kafkaBrokers),
    codec,
    topic,
    checked.ruleSet,
    signerOf(key, publisher),
  );
}

const listed = async () => (await call(api.base, "GET", "/v1/rulesets", { key: reader })).body;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  api = await startApi(stack, ns, { CLOCK_MODE: "wall" });
  const key = async (name: string, scopes: string[]) => {
    const r = await call(api.base, "POST", "/v1/keys", { ...admin, body: { name, scopes } });
    expect(r.status).toBe(201);
    return r.body.key as string;
  };
  marketer = await key("marketer", ["marketer"]);
  reader = await key("reader", ["read"]);
  reviewer = await key("reviewer", ["marketer"]);
});

afterAll(async () => {
  if (engine) expect(await stopService(engine)).toBe(0);
  const code = await api?.service.stop();
  await pool?.end();
  expect(code).toBe(0);
});

describe("rule sets from loyalty.rules.v1", () => {
  it("lists every version published, newest first, with publisher and time", async () => {
    expect((await listed()).ruleSets).toEqual([]);
    await publish(1, "alice");
    await publish(2, "bob");
    const got = await waitFor(
      "two versions in the read model",
      listed,
      (b) => b.ruleSets[0]?.versions.length === 2,
    );
    const [v2, v1] = got.ruleSets[0].versions;
    expect(got.ruleSets[0].ruleSetId).toBe("standard");
    expect([v2.version, v2.publisher, v2.signed, v1.version, v1.publisher]).toEqual([
      2,
      "bob",
      true,
      1,
      "alice",
    ]);
    const source = readRuleSetSource(STANDARD_RULES_DIR()).json as { rules: unknown[] };
    expect(v1.ruleCount).toBe(source.rules.length);
    expect(Date.parse(v2.publishedAt)).toBeGreaterThanOrEqual(Date.parse(v1.publishedAt));
    const rows = await pool.query("select rule_set_id, version from api_rule_sets order by version");
    expect(rows.rows).toEqual([
      { rule_set_id: "standard", version: 1 },
      { rule_set_id: "standard", version: 2 },
    ]);
  });

  it("answers one version with its rules, and 404 for one never published", async () => {
    const v = await call(api.base, "GET", "/v1/rulesets/standard/versions/1", { key: marketer });
    expect(v.status).toBe(200);
    expect(v.body.ruleSet.rules[0].id).toBe("base-points");
    expect(v.body.publisher).toBe("alice");
    const missing = await call(api.base, "GET", "/v1/rulesets/standard/versions/9", { key: marketer });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("RULESET_NOT_FOUND");
  });

  it("resumes after a restart: a new version is stored, the earlier rows are left as they were", async () => {
    await api.service.stop();
    await pool.query("update api_rule_sets set read_at = 'epoch' where version = 1");
    api = await startApi(stack, ns, { CLOCK_MODE: "wall" });
    await publish(3, "carol");
    await waitFor("v3", listed, (b) => b.ruleSets[0]?.versions.length === 3);
    const r = await pool.query<{ n: number; v1_read: Date }>(
      "select count(*)::int as n, max(read_at) filter (where version = 1) as v1_read from api_rule_sets",
    );
    expect(r.rows[0]?.n).toBe(3);
    expect(r.rows[0]?.v1_read.getTime()).toBe(0);
  });
});

describe("drafts", () => {
  it("refuses an invalid draft with every problem at its rule and path, storing nothing", async () => {
    const source = readRuleSetSource(STANDARD_RULES_DIR()).json as { rules: Record<string, unknown>[] };
    const bad = structuredClone(source);
    (bad.rules[0] as { event: { params: { rate: string } } }).event.params.rate = "-1";
    bad.rules[1] = { ...bad.rules[1], id: "base-points" };
    const r = await call(api.base, "POST", "/v1/rulesets/drafts", { key: marketer, body: { ruleSet: bad } });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("RULESET_INVALID");
    const paths = r.body.error.errors.map((e: { ruleId: string; path: string }) => `${e.ruleId} ${e.path}`);
    expect(paths).toEqual(
      expect.arrayContaining(["base-points $.rules[0].event.params.rate", "base-points $.rules[1].id"]),
    );
    expect((await pool.query("select 1 from api_rule_drafts")).rowCount).toBe(0);
  });

  it("stores a valid draft from a marketer key; a read key may not submit", async () => {
    const source = readRuleSetSource(STANDARD_RULES_DIR()).json as Record<string, unknown>;
    const ok = await call(api.base, "POST", "/v1/rulesets/drafts", {
      key: marketer,
      body: { ruleSet: { ...source, version: 4 } },
    });
    expect(ok.status).toBe(201);
    expect([ok.body.ruleSetId, ok.body.version, ok.body.submittedBy]).toEqual([
      "standard",
      4,
      marketer.split("_")[1],
    ]);
    const refused = await call(api.base, "POST", "/v1/rulesets/drafts", {
      key: reader,
      body: { ruleSet: { ...source, version: 5 } },
    });
    expect(refused.status).toBe(403);
    const stored = await pool.query<{ version: number }>("select version from api_rule_drafts");
    expect(stored.rows).toEqual([{ version: 4 }]);
    expect((await listed()).ruleSets[0].drafts.map((d: { draftId: string }) => d.draftId)).toEqual([
      ok.body.draftId,
    ]);
  });
});

describe("draft review", () => {
  it("a second marketer approves or rejects, never the submitter; published drafts are closed", async () => {
    const drafts = (await listed()).ruleSets[0].drafts as { draftId: string }[];
    const draftId = drafts[0]?.draftId ?? "";
    const detail = async () => call(api.base, "GET", `/v1/rulesets/drafts/${draftId}`, { key: reader });
    const before = await detail();
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ version: 4, status: "submitted", reviews: [], published: null });
    expect(before.body.ruleSet.rules[0].id).toBe("base-points");
    const review = (key: string, body: unknown) =>
      call(api.base, "POST", `/v1/rulesets/drafts/${draftId}/reviews`, { key, body });

    const own = await review(marketer, { decision: "approve" });
    expect(own.status).toBe(403);
    expect(own.body.error.code).toBe("DRAFT_SELF_REVIEW");
    expect((await review(reader, { decision: "approve" })).status).toBe(403);
    const rejected = await review(reviewer, { decision: "reject", note: "bonus too generous" });
    expect(rejected.status).toBe(201);
    expect(rejected.body.status).toBe("rejected");
    const approved = await review(reviewer, { decision: "approve", note: "fixed after a call" });
    expect(approved.body.status).toBe("approved");
    expect(
      approved.body.reviews.map((r: { decision: string; reviewedBy: string; note: string }) => [
        r.decision,
        r.reviewedBy,
        r.note,
      ]),
    ).toEqual([
      ["rejected", reviewer.split("_")[1], "bonus too generous"],
      ["approved", reviewer.split("_")[1], "fixed after a call"],
    ]);
    const rows = await pool.query<{ decision: string }>(
      "select decision from api_rule_draft_reviews where draft_id = $1 order by review_id",
      [draftId],
    );
    expect(rows.rows.map((r) => r.decision)).toEqual(["rejected", "approved"]);

    // Published (v4 on the topic, read into the read model): the draft says so, by whom, and is closed.
    await publish(4, "dave");
    const after = await waitFor("v4 published", detail, (r) => r.body.status === "published");
    expect(after.body.published).toMatchObject({ publisher: "dave", signed: true });
    const late = await review(reviewer, { decision: "reject" });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("DRAFT_PUBLISHED");
    const unknown = await call(
      api.base,
      "GET",
      "/v1/rulesets/drafts/drf-00000000-0000-0000-0000-000000000000",
      {
        key: reader,
      },
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("DRAFT_NOT_FOUND");
  });
});

describe("the marketer scope", () => {
  it("reads what read reads, may not redeem, and says who it is", async () => {
    await seedLots(pool, "console-m1", [{ points: 100, expiresAt: NOW + 30 * DAY, earnedAt: NOW - DAY }]);
    expect((await call(api.base, "GET", "/v1/members/console-m1", { key: marketer })).status).toBe(200);
    const redeem = await call(api.base, "POST", "/v1/members/console-m1/redemptions", {
      key: marketer,
      body: { points: 1 },
      headers: { "idempotency-key": "m-1" },
    });
    expect(redeem.status).toBe(403);
    const who = await call(api.base, "GET", "/v1/session", { key: marketer });
    expect(who.body).toEqual({ keyId: marketer.split("_")[1], scopes: ["marketer"] });
  });
});

describe("member lots and points per day", () => {
  // Redemptions are ledger commands the rules engine applies (ADR 16 step 3); it runs the
  // versions the rule-set tests above published.
  beforeAll(async () => {
    engine = await startRulesEngine(stack, ns, { CLOCK_MODE: "wall" }, { publishProgramme: false });
  });

  it("lists the lots with points left, soonest expiry first; 404 for an unknown member", async () => {
    await seedLots(pool, "console-m2", [
      { points: 40, expiresAt: NOW + 90 * DAY, earnedAt: NOW - 3 * DAY, tag: "late" },
      { points: 60, expiresAt: NOW + 10 * DAY, earnedAt: NOW - 5 * DAY, tag: "soon" },
    ]);
    const r = await call(api.base, "GET", "/v1/members/console-m2/lots", { key: reader });
    expect(r.body.lots.map((l: { points: number; remaining: number }) => [l.points, l.remaining])).toEqual([
      [60, 60],
      [40, 40],
    ]);
    const unknown = await call(api.base, "GET", "/v1/members/nobody/lots", { key: reader });
    expect(unknown.status).toBe(404);
  });

  it("sums earned and redeemed points per day of event time, zero days included", async () => {
    const redeemed = await call(api.base, "POST", "/v1/members/console-m2/redemptions", {
      ...admin,
      body: { points: 25 },
      headers: { "idempotency-key": "console-r1" },
    });
    expect(redeemed.status).toBe(201);
    const r = await call(api.base, "GET", "/v1/dashboard/points-by-day?days=30", { key: reader });
    expect(r.body.days).toHaveLength(30);
    const sum = (k: string) =>
      r.body.days.reduce((s: number, d: Record<string, number>) => s + (d[k] ?? 0), 0);
    // 100 (m1) + 40 + 60 (m2) earned within 30 days of the newest entry; 25 redeemed.
    expect([sum("issued"), sum("redeemed"), sum("expired")]).toEqual([200, 25, 0]);
    const ledger = await pool.query<{ earned: number }>(
      "select sum(points)::int as earned from ledger_entries where kind = 'earn'",
    );
    expect(ledger.rows[0]?.earned).toBe(200);
    expect(r.body.days.filter((d: { entries: number }) => d.entries === 0).length).toBeGreaterThan(20);
  });
});

// End to end through Kafka, PostgreSQL and Redis: the behaviours of the issue, one namespace
// (one input partition, so every member's clock is driven by the same stream) per programme.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TierChanged } from "@loyalty/contracts";
import { type RunningService, type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import { DAY_MS } from "@loyalty/tiers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, points, purchase } from "./support.ts";

const at = (d: string) => Date.parse(`${d}T00:00:00Z`);
let stack: TestStack;
const running: RunningService[] = [];
const engines: Engine[] = [];

function programme(json: object): string {
  const dir = mkdtempSync(join(tmpdir(), "tiers-"));
  const file = join(dir, "programme.json");
  writeFileSync(file, JSON.stringify(json));
  return file;
}

/** Someone else's small purchases every 10 days: the stream's clock moves, nothing else. */
function clockDriver(from: string, to: string) {
  const out = [];
  for (let t = at(from); t <= at(to); t += 10 * DAY_MS) out.push(purchase("zz-clock", `clock-${t}`, t, 1));
  return out;
}

function byMember(changes: TierChanged[], member: string) {
  return changes.filter((c) => c.memberId === member);
}

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  for (const s of running) await s.stop();
  for (const e of engines) await e.close();
});

describe("spend programme (quarterly anniversary evaluations, 10 days grace)", () => {
  it("upgrades on the qualifying event, downgrades at evaluation after grace with no events, refunds count at the next evaluation", async () => {
    const engine = await Engine.create(stack, testNamespace(), 1);
    engines.push(engine);
    const config = programme({
      metric: "spend",
      tiers: [
        { name: "Member", threshold: 0 },
        { name: "Silver", threshold: 10_000 },
        { name: "Gold", threshold: 25_000 },
        { name: "Platinum", threshold: 60_000 },
      ],
      evaluation: { mode: "anniversary", periodMonths: 3 },
      graceDays: 10,
    });
    const events = [
      // u: two purchases, the second crosses Silver.
      purchase("u", "u1", at("1997-01-05"), 6_000),
      purchase("u", "u2", at("1997-02-01"), 5_000),
      // d: Gold in Jan 1997 and never seen again.
      purchase("d", "d1", at("1997-01-10"), 30_000),
      // r and twin: the same purchases; r refunds part of the order that made it Gold.
      purchase("r", "r1", at("1997-06-01"), 20_000),
      purchase("twin", "t1", at("1997-06-01"), 20_000),
      purchase("r", "r2", at("1997-07-01"), 10_000),
      purchase("twin", "t2", at("1997-07-01"), 10_000),
      purchase("r", "r2", at("1997-08-01"), 6_000, "REFUND"),
      ...clockDriver("1997-01-01", "1998-06-30"),
    ].sort((a, b) => a.eventTime - b.eventTime);
    await engine.publishPurchases(events);
    // A message that is not Avro at all: dead-lettered, the rest flows.
    const producer = engine.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: engine.topics.purchases.name,
      messages: [{ key: "x", value: Buffer.from("{oops") }],
    });
    await producer.disconnect();

    const svc = await engine.start({ TIER_CONFIG_FILE: config });
    running.push(svc);
    await engine.waitProcessed(events.length);
    const changes = await engine.decodeTiers(await engine.readTiers());

    // u: up on the purchase that crosses Silver; a year later both purchases have left the
    // window and the 1998-02-01 evaluation takes it back down after the grace period.
    const u = byMember(changes, "u");
    expect(u.map((c) => [c.toTier, c.reason, c.effectiveAt])).toEqual([
      ["Silver", "QUALIFIED", at("1997-02-01")],
      ["Member", "GRACE_EXPIRED", at("1998-02-11")],
    ]);
    expect(u[0]).toMatchObject({
      fromTier: "Member",
      toTier: "Silver",
      direction: "UP",
      reason: "QUALIFIED",
      metric: "spend",
      metricValue: 11_000,
      threshold: 10_000,
      effectiveAt: at("1997-02-01"),
      evaluationDate: null,
    });

    // d: evaluations on 04-10, 07-10, 10-10 pass; on 1998-01-10 the purchase has left the
    // window: grace to 01-20, one level down; the next quarter takes the next level.
    const d = byMember(changes, "d");
    expect(d.map((c) => [c.toTier, c.reason, c.effectiveAt, c.evaluationDate])).toEqual([
      ["Gold", "QUALIFIED", at("1997-01-10"), null],
      ["Silver", "GRACE_EXPIRED", at("1998-01-20"), at("1998-01-10")],
      ["Member", "GRACE_EXPIRED", at("1998-04-30"), at("1998-04-20")],
    ]);
    expect(d[1]).toMatchObject({ fromTier: "Gold", metricValue: 0, threshold: 25_000, direction: "DOWN" });

    // r: the refund (booked on the purchase's day) leaves 24,000 < Gold: no change at the
    // refund, a downgrade after the 1997-10-01 evaluation's grace. twin keeps Gold then.
    const r = byMember(changes, "r");
    expect(r.map((c) => [c.toTier, c.reason, c.effectiveAt])).toEqual([
      ["Silver", "QUALIFIED", at("1997-06-01")],
      ["Gold", "QUALIFIED", at("1997-07-01")],
      ["Silver", "GRACE_EXPIRED", at("1997-10-11")],
    ]);
    expect(r[2]).toMatchObject({ metricValue: 24_000, evaluationDate: at("1997-10-01") });
    expect(byMember(changes, "twin").map((c) => c.toTier)).toEqual(["Silver", "Gold"]);

    // Every record is keyed by member, timestamped with its effective time, ids unique.
    expect(new Set(changes.map((c) => c.eventId)).size).toBe(changes.length);
    expect(byMember(changes, "zz-clock")).toEqual([]);

    // The state behind it: tiers and due times in PostgreSQL.
    const rows = await engine.pool.query<{ member_id: string; tier: string }>(
      "select member_id, tier from tier_members order by member_id",
    );
    expect(Object.fromEntries(rows.rows.map((x) => [x.member_id, x.tier]))).toMatchObject({
      d: "Member",
      u: "Member",
      r: "Silver",
      twin: "Gold",
    });
    const dlq = await engine.kafka.admin();
    await dlq.connect();
    const dlqEnd = await dlq.fetchTopicOffsets(engine.topics.dlq.name);
    await dlq.disconnect();
    expect(dlqEnd.reduce((s, p) => s + Number(p.high), 0)).toBeGreaterThanOrEqual(1);
  }, 180_000);
});

describe("points programme", () => {
  it("redemptions never demote; reversals do, at the next evaluation; purchases are not its metric", async () => {
    const engine = await Engine.create(stack, testNamespace(), 1);
    engines.push(engine);
    const config = programme({
      metric: "points",
      tiers: [
        { name: "Member", threshold: 0 },
        { name: "Silver", threshold: 100 },
        { name: "Gold", threshold: 250 },
      ],
      evaluation: { mode: "anniversary", periodMonths: 3 },
      graceDays: 0,
    });
    const moves = [
      points("saver", "EARNED", 300, at("1997-01-10"), "s1", "p-s1"),
      points("saver", "REDEEMED", -300, at("1997-01-20"), null, "p-s2"),
      points("saver", "EXPIRED", -10, at("1997-02-20"), null, "p-s3"),
      points("rev", "EARNED", 300, at("1997-01-10"), "v1", "p-v1"),
      points("rev", "REVERSED", -100, at("1997-02-01"), "v1", "p-v2"),
    ];
    for (let t = at("1997-01-01"); t <= at("1997-12-31"); t += 7 * DAY_MS)
      moves.push(points("zz-clock", "EARNED", 1, t, `c${t}`, `p-c${t}`));
    moves.sort((a, b) => a.eventTime - b.eventTime);
    await engine.publishPoints(moves);
    // A big purchase: not this programme's metric (spend), so it moves nobody.
    await engine.publishPurchases([purchase("buyer", "b1", at("1997-03-01"), 1_000_000)]);

    const svc = await engine.start({ TIER_CONFIG_FILE: config });
    running.push(svc);
    await engine.waitProcessed(moves.length);
    const changes = await engine.decodeTiers(await engine.readTiers());

    // saver spent all 300 points within days: still Gold at 1997-04-10, 07-10 and 10-10.
    expect(byMember(changes, "saver").map((c) => c.toTier)).toEqual(["Gold"]);
    // rev: 300 earned, 100 reversed -> 200: stays Gold until the 1997-04-10 evaluation.
    expect(byMember(changes, "rev").map((c) => [c.toTier, c.reason, c.effectiveAt, c.metricValue])).toEqual([
      ["Gold", "QUALIFIED", at("1997-01-10"), 300],
      ["Silver", "EVALUATION", at("1997-04-10"), 200],
    ]);
    expect(byMember(changes, "buyer")).toEqual([]);
  }, 180_000);
});

describe("wall-clock mode", () => {
  it("evaluates on a schedule: members due by now are advanced, with effective times from the schedule", async () => {
    const engine = await Engine.create(stack, testNamespace(), 2);
    engines.push(engine);
    // Gold in 1997 and never seen again: by today every evaluation since has run.
    await engine.publishPurchases([purchase("old", "o1", at("1997-01-10"), 30_000)]);
    const svc = await engine.start({ CLOCK_MODE: "wall", TIER_TICK_MS: "300" });
    running.push(svc);
    await engine.waitProcessed(1);
    const deadline = Date.now() + 30_000;
    let changes: TierChanged[] = [];
    while (Date.now() < deadline) {
      changes = await engine.decodeTiers(await engine.readTiers());
      if (changes.length >= 3) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    // Anniversaries of the last change, 30 days' grace, one level at a time.
    expect(changes.map((c) => [c.toTier, c.reason, c.evaluationDate, c.effectiveAt])).toEqual([
      ["Gold", "QUALIFIED", null, at("1997-01-10")],
      ["Silver", "GRACE_EXPIRED", at("1998-01-10"), at("1998-02-09")],
      ["Member", "GRACE_EXPIRED", at("1999-02-09"), at("1999-03-11")],
    ]);
    const row = await engine.pool.query<{ tier: string; due_at: number | null }>(
      "select tier, due_at from tier_members where member_id = 'old'",
    );
    expect(row.rows[0]).toEqual({ tier: "Member", due_at: null });
  }, 120_000);
});

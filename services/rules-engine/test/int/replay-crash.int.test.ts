import type { PurchaseEvent } from "@loyalty/contracts";
// The ledger after a SIGKILL in the middle of a replay (after a batch's ledger commit, before
// its Kafka commit) equals the ledger of an uninterrupted run of the same input, in another
// namespace; every committed movement, expiries included, is on loyalty.points.v1 exactly once
// and in ledger order per member (each balanceAfter the previous plus its points); and the
// service's balances equal the in-memory simulation of the same pipeline.
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, readTopic, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { simulateDraft } from "../../src/engine/draft.ts";
import { memberPartitioner } from "../../src/pipeline.ts";
import { validateRuleSet } from "../../src/rules/validate.ts";
import { readRuleSetSource } from "../../src/rulesets/files.ts";
import { verifyLedger } from "../../src/store/verify.ts";
import { Inputs, REPO, cdnowPurchases, refundOf, startService, stopService, waitFor } from "./harness.ts";

let stack: TestStack;
const pools: Pool[] = [];

// A batch is what one fetch delivers: small fetches, many batches (a kill part-way; batch cuts
// that must not change the ledger).
const SMALL_FETCH = { FETCH_MAX_BYTES_PER_PARTITION: "16384" };

function input(): PurchaseEvent[] {
  const purchases = cdnowPurchases(3000);
  // Refund half of every 25th order, a day after the member's last order (per-member order is
  // then also time order, as the simulation assumes).
  const lastOf = new Map<string, number>();
  for (const p of purchases) lastOf.set(p.memberId, Math.max(lastOf.get(p.memberId) ?? 0, p.eventTime));
  const refunds = purchases
    .filter((_, i) => i % 25 === 0)
    .map((p) =>
      refundOf(p, Math.floor(p.baseAmountMinor / 2), "r1", (lastOf.get(p.memberId) ?? 0) + 86_400_000),
    );
  return [...purchases, ...refunds];
}

async function runNamespace(events: PurchaseEvent[], crash: boolean) {
  const ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  const pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  pools.push(pool);
  const inputs = new Inputs(stack, ns);
  await inputs.produce(inputs.topics.purchases, events);
  const applied = async () =>
    (await pool.query<{ n: number }>("select count(*)::int as n from rules_priced_events")).rows[0]?.n ?? 0;
  let partial: number | null = null;
  if (crash) {
    const first = await startService(stack, ns, { ...SMALL_FETCH, FAULT_KILL_AFTER_BATCH: "4" });
    const signal = await new Promise<NodeJS.Signals | null>((r) => first.once("exit", (_c, s) => r(s)));
    expect(signal).toBe("SIGKILL");
    partial = await applied();
  }
  const svc = await startService(stack, ns, SMALL_FETCH);
  try {
    await waitFor("all events applied", applied, (n) => n >= events.length);
  } finally {
    expect(await stopService(svc)).toBe(0);
  }
  return { ns, pool, inputs, partial };
}

const entriesOf = async (pool: Pool) =>
  (
    await pool.query(
      `select entry_id, member_id, kind, points, balance_after, rule_id, rule_version, rule_set_version,
              source_event_id, order_id, event_time, detail from ledger_entries order by entry_id`,
    )
  ).rows;
const balancesOf = async (pool: Pool) =>
  (await pool.query("select member_id, balance, debt, shortfall from ledger_balances order by member_id"))
    .rows;
const lotsOf = async (pool: Pool) =>
  (
    await pool.query(
      "select lot_id, member_id, points, remaining, expires_at from ledger_lots order by lot_id",
    )
  ).rows;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  for (const p of pools) await p.end();
});

describe("replay of CDNOW purchases and refunds", () => {
  it("gives the same ledger after a SIGKILL between the ledger and the Kafka commit", async () => {
    const events = input();
    const clean = await runNamespace(events, false);
    const crashed = await runNamespace(events, true);
    expect(crashed.partial).toBeGreaterThan(0);
    expect(crashed.partial).toBeLessThan(events.length);

    const [ea, eb] = [await entriesOf(clean.pool), await entriesOf(crashed.pool)];
    expect(ea.length).toBeGreaterThan(events.length);
    expect(eb).toEqual(ea);
    expect(await balancesOf(crashed.pool)).toEqual(await balancesOf(clean.pool));
    expect(await lotsOf(crashed.pool)).toEqual(await lotsOf(clean.pool));
    for (const r of [await verifyLedger(clean.pool), await verifyLedger(crashed.pool)]) {
      expect(r.differences).toEqual([]);
      expect(r.entries).toBe(ea.length);
    }
    // Tier multipliers were priced (some members climbed during the replay) and refunds reversed.
    const kinds = new Set(ea.map((e) => `${e.kind}:${e.rule_id}`));
    expect(kinds).toContain("earn:tier-silver");
    expect(kinds).toContain("reverse:base-points");
    // Lots earned early in the year and due before the member's next movement expired first.
    const expiries = eb.filter((e) => e.kind === "expire").map((e) => e.entry_id as string);
    expect(expiries.length).toBeGreaterThan(0);
    // There is no outbox any more (migration 504): the engine publishes every entry itself.
    expect((await crashed.pool.query("select to_regclass('api_outbox') as t")).rows).toEqual([{ t: null }]);

    // Exactly once on the topic, although the killed run's batch was applied and then re-emitted,
    // and in ledger order per member.
    const out = await readTopic(
      crashed.inputs.kafka,
      crashed.inputs.topics.points.name,
      (ms) => ms.length >= eb.length,
    );
    const moves = await Promise.all(
      out.map((m) =>
        crashed.inputs.codec.decode<{
          eventId: string;
          memberId: string;
          points: number;
          balanceAfter: number;
        }>(m.value as Buffer),
      ),
    );
    expect(moves.length).toBe(eb.length);
    expect(new Set(moves.map((m) => m.eventId))).toEqual(new Set(eb.map((e) => e.entry_id)));
    const last = new Map<string, number>();
    const broken: string[] = [];
    for (const m of moves) {
      const prev = last.get(m.memberId) ?? 0;
      if (Number(m.balanceAfter) !== prev + Number(m.points)) broken.push(m.memberId);
      last.set(m.memberId, Number(m.balanceAfter));
    }
    expect(broken).toEqual([]);
    const balances = new Map((await balancesOf(crashed.pool)).map((b) => [b.member_id, Number(b.balance)]));
    for (const [member, b] of last) expect([member, b]).toEqual([member, balances.get(member)]);

    // The service's balances are the in-memory pipeline's over the same input.
    const src = readRuleSetSource(`${REPO}rules/standard`);
    const v = validateRuleSet(src.json);
    if (!v.ok) throw new Error("standard rules invalid");
    // As the service runs: topic order per partition, punctuated at each partition's stream time.
    const sim = simulateDraft(v.ruleSet, src.programme, events, { partitionOf: memberPartitioner(3) });
    const simBalances = [...sim.balances].filter(([, b]) => b !== 0).sort(([a], [b]) => (a < b ? -1 : 1));
    const dbBalances = (await balancesOf(clean.pool))
      .filter((r) => r.balance !== 0)
      .map((r) => [r.member_id, r.balance]);
    expect(dbBalances).toEqual(simBalances);
  }, 240_000);
});

import type { ChildProcess } from "node:child_process";
// Issue 24 / ADR 16 step 3: after a CDNOW master replay (in event-time order, as `loyalty replay`
// sends it) through the real services (the rules engine and the member API side by side, event
// time), loyalty.points.v1 holds every member's
// movements in ledger order: read with a plain kafkajs consumer (read_committed), each record's
// balanceAfter is the previous one plus its points (0 before the first), and the last one is the
// member's ledger balance, for every member of the ledger. Also prints the ledger digest
// (balances, lots, entry ids) that the ADR records, and checks that the API's read model of the
// topic (api_points_*) holds the same entries, balances, debts and lots as the ledger.
import { createHash } from "node:crypto";
import { AvroCodec, type PointsMovement } from "@loyalty/contracts";
import type { Pool } from "@loyalty/db";
import { verifyLedger } from "@loyalty/rules-engine";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  Inputs,
  cdnowPurchases,
  startService as startRulesEngine,
  stopService,
} from "../../../rules-engine/test/int/harness.ts";
import { type Api, ledgerDigest, namespacePool, startApi, waitFor } from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api | undefined;
let engine: ChildProcess | undefined;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
});

afterAll(async () => {
  const apiCode = await api?.service.stop();
  if (engine) await stopService(engine);
  await pool?.end();
  expect(apiCode ?? 0).toBe(0);
});

it("publishes every member's points in ledger order after a CDNOW master replay", async () => {
  const inputs = new Inputs(stack, ns);
  await inputs.prepare();
  engine = await startRulesEngine(stack, ns, { CONSUMER_MAX_BATCH: "2000" });
  api = await startApi(stack, ns);
  // In event-time order, as `loyalty replay` sends a file (stable: one day's orders keep file order).
  const purchases = cdnowPurchases(Number.MAX_SAFE_INTEGER)
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.eventTime - b.p.eventTime || a.i - b.i)
    .map(({ p }) => p);
  await inputs.produce(inputs.topics.purchases, purchases);
  await waitFor(
    "every purchase priced",
    async () =>
      Number(
        (await pool.query<{ n: string }>("select count(*) as n from rules_priced_events")).rows[0]?.n ?? 0,
      ),
    (n) => n === purchases.length,
    900_000,
  );
  // The ledger settles (nothing else writes it once the engine is done).
  let last = -1;
  await waitFor(
    "ledger settled",
    async () => {
      await new Promise((r) => setTimeout(r, 3000));
      const n = Number(
        (await pool.query<{ n: string }>("select count(*) as n from ledger_entries")).rows[0]?.n ?? 0,
      );
      const settled = n === last;
      last = n;
      return settled;
    },
    (settled) => settled,
    300_000,
  );
  const entries = last;

  const codec = new AvroCodec(stack.schemaRegistryUrl);
  const msgs = await readTopic(
    testKafka(stack.kafkaBrokers),
    inputs.topics.points.name,
    (m) => m.length >= entries,
    300_000,
    3000,
  );
  expect(msgs.length).toBe(entries);
  const perMember = new Map<string, PointsMovement[]>();
  // Records of a member are on one partition, in offset order as read.
  for (const m of msgs) {
    const p = await codec.decode<PointsMovement>(m.value as Buffer);
    const list = perMember.get(p.memberId) ?? [];
    list.push(p);
    perMember.set(p.memberId, list);
  }
  const balances = new Map(
    (
      await pool.query<{ member_id: string; balance: string }>(
        "select member_id, balance from ledger_balances",
      )
    ).rows.map((r) => [r.member_id, Number(r.balance)]),
  );
  const outOfOrder: string[] = [];
  const lastWrong: string[] = [];
  for (const [member, list] of perMember) {
    let prev = 0;
    for (const r of list) {
      if (Number(r.balanceAfter) !== prev + Number(r.points)) {
        outOfOrder.push(member);
        break;
      }
      prev = Number(r.balanceAfter);
    }
    if (prev !== balances.get(member)) lastWrong.push(member);
  }
  const withMovements = [...balances.keys()].filter((m) => !perMember.has(m));
  const digest = await ledgerDigest(pool);
  console.log(
    JSON.stringify({
      members: perMember.size,
      ledgerMembers: balances.size,
      entries,
      outOfOrder: outOfOrder.length,
      lastWrong: lastWrong.length,
      sampleWrong: lastWrong.slice(0, 3),
      ...digest,
    }),
  );
  expect(outOfOrder).toEqual([]);
  expect(lastWrong).toEqual([]);
  // Every member of the ledger has movements on the topic (a member with none has balance 0).
  expect(withMovements.filter((m) => balances.get(m) !== 0)).toEqual([]);
  expect(perMember.size).toBe(23_570);
  expect((await verifyLedger(pool)).differences).toEqual([]);

  // The API's read model, fed by the topic alone, holds the ledger: every entry with its balance
  // after and rule, every member's balance and debt, every lot's remaining points and expiry.
  await waitFor(
    "the API's points read model caught up",
    async () =>
      Number(
        (await pool.query<{ n: string }>("select count(*) as n from api_points_entries")).rows[0]?.n ?? 0,
      ),
    (n) => n === entries,
    300_000,
  );
  const same = async (what: string, ours: string, theirs: string) => {
    const lines = async (sql: string) =>
      createHash("sha256")
        .update((await pool.query<{ line: string }>(sql)).rows.map((r) => r.line).join("\n"))
        .digest("hex");
    expect([what, await lines(ours)]).toEqual([what, await lines(theirs)]);
  };
  const entry = (t: string) =>
    `select entry_id || ' ' || member_id || ' ' || kind || ' ' || points || ' ' || balance_after || ' ' ||
            coalesce(rule_id, '-') || ' ' || coalesce(rule_version, 0) || ' ' || coalesce(rule_set_id, '-') || ' ' ||
            coalesce(rule_set_version, 0) || ' ' || (extract(epoch from event_time) * 1000)::bigint as line
       from ${t} order by entry_id`;
  await same("entries", entry("api_points_entries"), entry("ledger_entries"));
  const balance = (t: string) =>
    `select member_id || ' ' || balance || ' ' || debt as line from ${t} order by 1`;
  await same("balances", balance("api_points_balances"), balance("ledger_balances"));
  const lot = (t: string) =>
    `select lot_id || ' ' || member_id || ' ' || points || ' ' || remaining || ' ' ||
            (extract(epoch from expires_at) * 1000)::bigint as line from ${t} order by lot_id`;
  await same("lots", lot("api_points_lots"), lot("ledger_lots"));
}, 1_500_000);

import { createPrivateKey } from "node:crypto";
// Signed rule sets against the real broker, registry and PostgreSQL (issue 21, item 2): an
// unsigned, wrongly signed, replayed, version-lowering or undecodable publication reaches
// loyalty.dlq.v1 with its reason and its original bytes, and the rules the engine prices with do
// not change; a properly signed higher version takes effect from the engine's stream time, not
// the publisher's claimed publishedAt; a restart dead-letters nothing twice and keeps the
// effective time.
import { readFileSync } from "node:fs";
import type { DeadLetter, PurchaseEvent, RuleSetPublished } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { type TestStack, readTopic, requireStack, testNamespace } from "@loyalty/testkit";
import type { Pool } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RuleSet,
  generateSigningKeyPair,
  publication,
  signedPublication,
  signerOf,
} from "../../src/index.ts";
import { Inputs, REPO, devSigner, startService, stopService, waitFor } from "./harness.ts";

let stack: TestStack;
let pool: Pool;
const ns = testNamespace();

function standard(version: number, rate: string): RuleSet {
  const { $schema: _editorHint, ...rs } = JSON.parse(
    readFileSync(`${REPO}rules/standard/ruleset.json`, "utf8"),
  ) as RuleSet & { $schema?: string };
  rs.version = version;
  const base = rs.rules.find((r) => r.id === "base-points") as unknown as {
    version: number;
    event: { params: { rate: string } };
  };
  base.version = version;
  base.event.params.rate = rate;
  return rs;
}

function purchase(memberId: string, cents: number, at: number): PurchaseEvent {
  return {
    eventId: `pur-${ns}-${memberId}`,
    type: "PURCHASE",
    memberId,
    source: "web",
    orderId: `o-${memberId}`,
    eventTime: at,
    amountMinor: cents,
    currency: "USD",
    baseAmountMinor: cents,
    baseCurrency: "USD",
    fxRate: "1",
    lines: [
      {
        lineId: "1",
        sku: "cd-1",
        category: "rock",
        quantity: 1,
        unitPriceMinor: cents,
        baseLineTotalMinor: cents,
      },
    ],
    channel: "web",
    storeId: null,
    refundId: null,
    refundedLineIds: [],
  };
}

/** The base-points award of a member's purchase: [points, rule-set version]. */
async function basePoints(memberId: string): Promise<[number, number] | null> {
  const r = await pool.query<{ points: string; rule_set_version: number }>(
    "select points, rule_set_version from ledger_entries where member_id = $1 and rule_id = 'base-points'",
    [memberId],
  );
  const row = r.rows[0];
  return row === undefined ? null : [Number(row.points), row.rule_set_version];
}

async function ruleSets() {
  return (
    await pool.query<{
      version: number;
      effective_at: Date;
      published_at: Date;
      publisher: string | null;
      key_id: string | null;
      digest: string | null;
      signature: Buffer | null;
    }>(
      "select version, effective_at, published_at, publisher, key_id, digest, signature from rule_sets order by version",
    )
  ).rows;
}

beforeAll(async () => {
  stack = await requireStack();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
});
afterAll(async () => {
  await pool?.end();
});

describe("signed rule sets", () => {
  it("dead-letters every unsigned, wrongly signed, replayed, lowering or undecodable publication; a signed higher version takes effect", async () => {
    const inputs = new Inputs(stack, ns);
    await inputs.prepare();
    const rulesTopic = inputs.topics.rules.name;
    const signer = devSigner("alice");
    let svc = await startService(stack, ns);
    try {
      // v1: the standard programme, published by the harness (as publisher) before the engine started.
      await waitFor("bootstrap v1", ruleSets, (r) => r.length === 1, 60_000);
      const t0 = Date.now();
      await inputs.produce(inputs.topics.purchases, [purchase("m1", 1_000, t0)]);
      await waitFor(
        "m1",
        () => basePoints("m1"),
        (p) => p !== null,
      );
      expect(await basePoints("m1")).toEqual([10, 1]);

      // The hostile publications, as an attacker on the broker could send them.
      const stranger = signerOf(createPrivateKey(generateSigningKeyPair().privateKeyPem), "mallory");
      const v1Other = signedPublication(standard(1, "7"), Date.now(), signer);
      const tampered = { ...signedPublication(standard(5, "5"), Date.now(), signer), publisher: "bob" };
      const hostile: Array<{ code: string; p: RuleSetPublished }> = [
        // The forged rule set of issue 21: version 999999, publishedAt 0, no signature.
        { code: "RULESET_UNSIGNED", p: publication(standard(999_999, "50"), 0) },
        { code: "RULESET_UNKNOWN_KEY", p: signedPublication(standard(999_999, "50"), 0, stranger) },
        { code: "RULESET_BAD_SIGNATURE", p: tampered },
        { code: "RULESET_REPLAYED", p: v1Other },
      ];
      for (const h of hostile) await inputs.sendRuleSetPublication(h.p);
      const garbage = Buffer.from("not avro at all \u0000\u0001", "utf8");
      const producer = inputs.kafka.producer();
      await producer.connect();
      await producer.send({
        topic: rulesTopic,
        acks: -1,
        messages: [{ key: "standard", value: garbage, headers: { origin: Buffer.from([0xff, 0x00]) } }],
      });
      await producer.disconnect();

      // The running rules did not change: m2 is priced with v1.
      await inputs.produce(inputs.topics.purchases, [purchase("m2", 1_000, t0 + 1_000)]);
      await waitFor(
        "m2",
        () => basePoints("m2"),
        (p) => p !== null,
      );
      expect(await basePoints("m2")).toEqual([10, 1]);
      expect((await ruleSets()).map((r) => r.version)).toEqual([1]);

      // A properly signed v3 claiming publishedAt 0: it takes effect from the engine's stream
      // time (after m2's purchase), not from 1970.
      const v3 = signedPublication(standard(3, "3"), 0, signer);
      await inputs.sendRuleSetPublication(v3);
      await inputs.produce(inputs.topics.purchases, [purchase("m3", 1_000, t0 + 2_000)]);
      await waitFor(
        "m3",
        () => basePoints("m3"),
        (p) => p !== null,
      );
      expect(await basePoints("m3")).toEqual([30, 3]);
      const rows = await ruleSets();
      expect(rows.map((r) => r.version)).toEqual([1, 3]);
      const row3 = rows[1];
      if (row3 === undefined) throw new Error("no v3 row");
      expect(row3).toMatchObject({
        publisher: "alice",
        key_id: signer.keyId,
        digest: v3.digest,
        signature: v3.signature,
      });
      expect(row3.published_at.getTime()).toBe(0);
      expect(row3.effective_at.getTime()).toBeGreaterThan(t0 + 1_000);
      expect(row3.effective_at.getTime()).toBeLessThanOrEqual(t0 + 2_000);

      // Version-lowering (v2, properly signed) and v3's own record sent again: refused.
      const v2 = signedPublication(standard(2, "2"), Date.now(), signer);
      await inputs.sendRuleSetPublication(v2);
      await inputs.sendRuleSetPublication(v3);
      hostile.push({ code: "RULESET_VERSION_NOT_GREATER", p: v2 }, { code: "RULESET_REPLAYED", p: v3 });
      await inputs.produce(inputs.topics.purchases, [purchase("m4", 1_000, t0 + 3_000)]);
      await waitFor(
        "m4",
        () => basePoints("m4"),
        (p) => p !== null,
      );
      expect(await basePoints("m4")).toEqual([30, 3]);

      // The DLQ holds each refused record once, with its reason and its original bytes.
      const dlqTopic = inputs.topics.dlq.name;
      const expected = hostile.length + 1;
      const fromRules = async () => {
        const msgs = await readTopic(inputs.kafka, dlqTopic, (m) => m.length >= expected, 30_000, 1_000);
        const out: DeadLetter[] = [];
        for (const m of msgs) {
          if (!m.value) continue;
          const d = await inputs.codec.decode<DeadLetter>(m.value);
          if (d.sourceTopic === rulesTopic) out.push(d);
        }
        return out.sort((a, b) => a.sourceOffset - b.sourceOffset);
      };
      const dead = await fromRules();
      expect(dead.map((d) => d.reasonCode)).toEqual([
        "RULESET_UNSIGNED",
        "RULESET_UNKNOWN_KEY",
        "RULESET_BAD_SIGNATURE",
        "RULESET_REPLAYED",
        "MALFORMED_AVRO",
        "RULESET_VERSION_NOT_GREATER",
        "RULESET_REPLAYED",
      ]);
      for (const d of dead) {
        expect(d.service).toBe("rules-engine");
        expect(d.reason.length).toBeGreaterThan(0);
      }
      const undecodable = dead[4];
      expect(Buffer.from(undecodable?.originalValue as Buffer).equals(garbage)).toBe(true);
      expect(undecodable?.headers).toEqual([{ key: "origin", value: Buffer.from([0xff, 0x00]) }]);
      for (const [i, d] of [0, 1, 2, 3, 5, 6].map((j) => [j, dead[j]] as const)) {
        const h = hostile[i < 4 ? i : i - 1];
        const back = await inputs.codec.decode<RuleSetPublished>(d?.originalValue as Buffer);
        expect(back.version).toBe(h?.p.version);
        expect(back.checksum).toBe(h?.p.checksum);
      }

      // A restart re-reads the topic: nothing is dead-lettered twice, v3 keeps its effective time.
      expect(await stopService(svc)).toBe(0);
      svc = await startService(stack, ns);
      await inputs.produce(inputs.topics.purchases, [purchase("m5", 1_000, t0 + 4_000)]);
      await waitFor(
        "m5",
        () => basePoints("m5"),
        (p) => p !== null,
      );
      expect(await basePoints("m5")).toEqual([30, 3]);
      expect(await ruleSets()).toEqual(rows);
      expect((await fromRules()).length).toBe(dead.length);
    } finally {
      await stopService(svc);
    }
  });
});

// rules publish / list / diff against the real broker and registry, in a fresh namespace.
import { cpSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AvroCodec, type RuleSetPublished, namespacedTopics } from "@loyalty/contracts";
import { createPool, migrate } from "@loyalty/db";
import { ensureTopics } from "@loyalty/stream-runtime";
import {
  type TestStack,
  grantTestNamespace,
  principalKafka,
  readTopic,
  requireStack,
  testKafka,
  testNamespace,
} from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { purchasesFromText } from "../src/commands/rules.ts";
import { REPO, cli, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

const STANDARD = join(REPO, "rules/standard");

describe("rules publish, list, diff", () => {
  it("publishes a draft once per version, lists it as on the topic, diffs the next draft against it", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    const topic = namespacedTopics(ns).rules.name;

    const empty = await cli(["rules", "list", "--json"], env);
    expect(empty.code).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual({ topic, published: [] });

    const pub = await cli(["rules", "publish", "rules/standard", "--publisher", "alice", "--json"], env);
    expect(pub.stderr).toBe("");
    expect(pub.code).toBe(0);
    const p = JSON.parse(pub.stdout) as {
      id: string;
      version: number;
      checksum: string;
      topic: string;
      publisher: string;
      keyId: string;
      digest: string;
      signingKey: string;
    };
    // No key in the environment: signed with the local stack's dev key, naming the publisher.
    expect(p).toMatchObject({ publisher: "alice", signingKey: "local-dev" });
    expect(p.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(p.digest).toMatch(/^[0-9a-f]{64}$/);
    const standard = JSON.parse(readFileSync(join(STANDARD, "ruleset.json"), "utf8")) as {
      id: string;
      version: number;
      rules: Array<{ id: string; version: number; priority: number }>;
    };
    expect(p).toMatchObject({ id: standard.id, version: standard.version, topic });

    // On the topic: one Avro publication of that rule set, under its id as key.
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const msgs = await readTopic(testKafka(stack.kafkaBrokers), topic, (m) => m.length >= 1);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]?.key?.toString()).toBe(standard.id);
    const onTopic = await codec.decode<RuleSetPublished>(msgs[0]?.value as Buffer);
    expect(onTopic).toMatchObject({
      ruleSetId: standard.id,
      version: standard.version,
      checksum: p.checksum,
      publisher: "alice",
      keyId: p.keyId,
      digest: p.digest,
    });
    expect(onTopic.signature?.length).toBe(64);
    // The file's "$schema" (for editors) is not part of the published rule set.
    const { $schema: _editorHint, ...published } = standard as typeof standard & { $schema?: string };
    expect(_editorHint).toBe("../../schemas/ruleset.schema.json");
    expect(JSON.parse(onTopic.ruleSetJson)).toEqual(published);

    // The same version again is refused (exit 1) and nothing more is published.
    const again = await cli(["rules", "publish", "rules/standard"], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refused: standard v1 is not greater than the published v1/);

    // --if-unpublished (how `loyalty up`, bench and compose seed a namespace): exit 0, nothing sent.
    const seeded = await cli(["rules", "publish", "rules/standard", "--if-unpublished", "--json"], env);
    expect(seeded.code).toBe(0);
    expect(JSON.parse(seeded.stdout)).toEqual({ id: standard.id, version: 1, topic, published: false });
    expect(
      await readTopic(testKafka(stack.kafkaBrokers), topic, (m) => m.length >= 1, 30_000, 2000),
    ).toHaveLength(1);

    const list = await cli(["rules", "list", "--json"], env);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as {
      published: Array<{ id: string; version: number; checksum: string; rules: number }>;
    };
    expect(listed.published).toEqual([
      expect.objectContaining({
        id: standard.id,
        version: standard.version,
        checksum: p.checksum,
        rules: standard.rules.length,
        publisher: "alice",
        keyId: p.keyId,
        digest: p.digest,
        // No engine has run in this namespace: no verdict, no effective time.
        engine: { status: "no engine state" },
      }),
    ]);

    // A next draft: first rule changed (new version), second removed.
    const [first, second, ...rest] = standard.rules;
    if (!first || !second) throw new Error("the standard programme has at least two rules");
    const dir = mkdtempSync(join(tmpdir(), "loyalty-rules-"));
    cpSync(join(STANDARD, "programme.json"), join(dir, "programme.json"));
    writeFileSync(
      join(dir, "ruleset.json"),
      JSON.stringify({
        ...standard,
        version: standard.version + 1,
        rules: [{ ...first, version: first.version + 1, priority: first.priority + 1 }, ...rest],
      }),
    );
    const diff = await cli(["rules", "diff", dir, "--json"], env);
    expect(diff.code).toBe(0);
    expect(JSON.parse(diff.stdout)).toEqual({
      id: standard.id,
      draftVersion: standard.version + 1,
      publishedVersion: standard.version,
      added: [],
      removed: [{ id: second.id, version: second.version }],
      changed: [
        {
          id: first.id,
          from: first.version,
          to: first.version + 1,
          keys: ["priority", "version"],
          versionUnchanged: false,
        },
      ],
    });
    const text = await cli(["rules", "diff", dir], env);
    expect(text.stdout).toContain(`- ${second.id} v${second.version}`);

    // A key of one's own: keygen writes it (never over an existing one); publish signs with it.
    const keys = mkdtempSync(join(tmpdir(), "loyalty-keys-"));
    const gen = await cli(["rules", "keygen", "--out", keys, "--json"], env);
    expect(gen.code).toBe(0);
    const k = JSON.parse(gen.stdout) as { keyId: string; privateKeyFile: string; publicKeyFile: string };
    expect(statSync(k.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(k.publicKeyFile, "utf8")).toContain("BEGIN PUBLIC KEY");
    expect((await cli(["rules", "keygen", "--out", keys], env)).code).toBe(2);
    const next = await cli(["rules", "publish", dir, "--json"], {
      ...env,
      RULES_SIGNING_KEY_FILE: k.privateKeyFile,
      RULES_PUBLISHER: "bob",
    });
    expect(next.code).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({
      keyId: k.keyId,
      publisher: "bob",
      signingKey: "environment",
    });
    const after = JSON.parse((await cli(["rules", "list", "--json"], env)).stdout) as {
      published: Array<{ version: number; keyId: string; publisher: string }>;
    };
    expect(after.published.map((x) => [x.version, x.keyId, x.publisher])).toEqual([
      [standard.version, p.keyId, "alice"],
      [standard.version + 1, k.keyId, "bob"],
    ]);

    // With the engine's verdicts in its tables (as the engine writes them: v1 accepted, the next
    // refused because the engine does not trust bob's key), list shows each record's outcome.
    const [r1, r2] = (
      JSON.parse((await cli(["rules", "list", "--json"], env)).stdout) as {
        published: Array<{ partition: number; offset: string; checksum: string }>;
      }
    ).published;
    if (!r1 || !r2) throw new Error("two records listed");
    await migrate(stack.databaseUrl, undefined, ns);
    const pool = createPool(stack.databaseUrl, { max: 1, namespace: ns });
    const effective = new Date(Date.UTC(1997, 0, 1));
    try {
      await pool.query(
        `insert into rule_sets (rule_set_id, version, published_at, effective_at, checksum, rule_set_json, publisher,
                                key_id, digest, source_partition, source_offset, accepted_at)
         values ($1, $2, now(), $3, $4, '{}', 'alice', $5, $6, $7, $8, now())`,
        [standard.id, standard.version, effective, r1.checksum, p.keyId, p.digest, r1.partition, r1.offset],
      );
      await pool.query(
        `insert into rule_set_rejections (source_topic, source_partition, source_offset, rule_set_id, version,
                                          reason_code, reason)
         values ($1, $2, $3, $4, $5, 'RULESET_UNKNOWN_KEY', 'not trusted')`,
        [topic, r2.partition, r2.offset, standard.id, standard.version + 1],
      );
    } finally {
      await pool.end();
    }
    const verdicts = JSON.parse((await cli(["rules", "list", "--json"], env)).stdout) as {
      published: Array<{ engine: unknown }>;
    };
    expect(verdicts.published.map((x) => x.engine)).toEqual([
      { status: "running", effectiveAt: effective.toISOString(), acceptedAt: expect.any(String) },
      { status: "refused", reasonCode: "RULESET_UNKNOWN_KEY", reason: "not trusted" },
    ]);
    const listText = (await cli(["rules", "list"], env)).stdout;
    expect(listText).toContain(`running from ${effective.toISOString()}`);
    expect(listText).toContain("refused RULESET_UNKNOWN_KEY: not trusted");
  });
});

describe("rules publish beside a forged publication", () => {
  it("an unsigned v999999 on the topic does not block the next genuine version, and list shows it unsigned", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    const topics = namespacedTopics(ns);
    expect((await cli(["rules", "list", "--json"], env)).code).toBe(0); // creates the topic
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    await codec.register(topics.rules);
    const standard = JSON.parse(readFileSync(join(STANDARD, "ruleset.json"), "utf8")) as { id: string };
    const forged: RuleSetPublished = {
      ruleSetId: standard.id,
      version: 999_999,
      publishedAt: 0,
      checksum: "0".repeat(64),
      ruleSetJson: "{}",
      publisher: null,
      keyId: null,
      digest: null,
      signature: null,
    };
    const producer = testKafka(stack.kafkaBrokers).producer();
    await producer.connect();
    await producer.send({
      topic: topics.rules.name,
      acks: -1,
      messages: [{ key: standard.id, value: await codec.encode(topics.rules, forged) }],
    });
    await producer.disconnect();

    const pub = await cli(["rules", "publish", "rules/standard", "--json"], env);
    expect(pub.stderr).toBe("");
    expect(pub.code).toBe(0);
    const listed = JSON.parse((await cli(["rules", "list", "--json"], env)).stdout) as {
      published: Array<{ version: number; publisher: string | null; keyId: string | null }>;
    };
    expect(listed.published.map((x) => [x.version, x.publisher === null, x.keyId === null])).toEqual([
      [1, false, false],
      [999_999, true, true],
    ]);

    // A version the engine runs counts as published even without a record on the topic (one
    // accepted before signing, say): diff compares with it.
    await migrate(stack.databaseUrl, undefined, ns);
    const pool = createPool(stack.databaseUrl, { max: 1, namespace: ns });
    try {
      const v3 = {
        ...(JSON.parse(readFileSync(join(STANDARD, "ruleset.json"), "utf8")) as object),
        version: 3,
      };
      await pool.query(
        `insert into rule_sets (rule_set_id, version, published_at, effective_at, checksum, rule_set_json)
         values ($1, 3, now(), now(), 'legacy', $2)`,
        [standard.id, JSON.stringify(v3)],
      );
    } finally {
      await pool.end();
    }
    const diff = JSON.parse((await cli(["rules", "diff", "rules/standard", "--json"], env)).stdout) as {
      publishedVersion: number;
    };
    expect(diff.publishedVersion).toBe(3);
  });
});

describe("rules backtest --running-published", () => {
  it("backtests beside the latest version on the namespace's topic, rules/standard before one", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    const topic = namespacedTopics(ns).rules.name;
    const standard = JSON.parse(readFileSync(join(STANDARD, "ruleset.json"), "utf8")) as {
      id: string;
      version: number;
      rules: Array<{ id: string; event: unknown }>;
    };
    const folder = (rate: string, version: number): string => {
      const dir = mkdtempSync(join(tmpdir(), "loyalty-backtest-"));
      cpSync(join(STANDARD, "programme.json"), join(dir, "programme.json"));
      writeFileSync(
        join(dir, "ruleset.json"),
        JSON.stringify({
          id: "base-only",
          version,
          rules: standard.rules
            .filter((r) => r.id === "base-points")
            .map((r) => ({ ...r, event: { type: "points-per-unit", params: { rate, rounding: "floor" } } })),
        }),
      );
      return dir;
    };
    const published = folder("1", 1);
    const draft = folder("3", 2);
    const orders = join(draft, "orders.jsonl");
    const cents = [2_550, 1_050, 12_345];
    writeFileSync(
      orders,
      cents
        .map((totalMinor, i) =>
          JSON.stringify({
            source: "web",
            type: "ORDER_PLACED",
            orderId: `o${i}`,
            customerId: `c${i}`,
            occurredAt: `1997-03-0${i + 1}T10:00:00Z`,
            currency: "USD",
            totalMinor,
            lines: [],
          }),
        )
        .join("\n"),
    );
    const args = ["rules", "backtest", draft, "--running-published", "--orders", orders];
    const window = ["--from", "1997-03-01", "--to", "1997-04-01", "--json"];
    type Doc = {
      runningFrom: string;
      running: { id: string; version: number };
      totals: { running: { netPoints: number }; draft: { netPoints: number } };
    };

    // Nothing published as base-only yet: the standard programme is the running set.
    const before = await cli([...args, ...window], env);
    expect(before.stderr).toBe("");
    expect(before.code).toBe(0);
    const b = JSON.parse(before.stdout) as Doc;
    expect(b.runningFrom).toBe(`rules/standard (nothing published as base-only on ${topic})`);
    expect(b.running.id).toBe("standard");

    expect((await cli(["rules", "publish", published], env)).code).toBe(0);
    const after = await cli([...args, ...window], env);
    expect(after.code).toBe(0);
    const a = JSON.parse(after.stdout) as Doc;
    expect(a.runningFrom).toBe(`${topic} v1`);
    expect(a.running).toEqual({ id: "base-only", version: 1 });
    expect(a.totals.running.netPoints).toBe(cents.reduce((s, c) => s + Math.floor(c / 100), 0));
    expect(a.totals.draft.netPoints).toBe(cents.reduce((s, c) => s + Math.floor((c * 3) / 100), 0));
  });
});

describe("rules backtest --from-topic", () => {
  it("prices the namespace's purchases on the topic as --orders prices the same orders from a file", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    const t = namespacedTopics(ns);
    await grantTestNamespace(stack.kafkaBrokers, ns);
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    try {
      await ensureTopics(admin, { partitions: 3, replication: 1, topics: [t.purchases, t.memberChanges] });
    } finally {
      await admin.disconnect();
    }
    // Twelve orders of five customers over two months; the first month is warm-up.
    const dir = mkdtempSync(join(tmpdir(), "loyalty-backtest-topic-"));
    const orders = join(dir, "orders.jsonl");
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({
        source: "web",
        type: "ORDER_PLACED",
        orderId: `t${i}`,
        customerId: `c${i % 5}`,
        occurredAt: `1997-0${3 + Math.floor(i / 6)}-${String(2 + (i % 6) * 4).padStart(2, "0")}T10:00:00Z`,
        currency: "USD",
        totalMinor: 1_000 + i * 777,
        lines: [],
      }),
    );
    writeFileSync(orders, lines.join("\n"));
    // On the topic as the ingestor would publish them: canonical purchases, as the ingestor.
    const { purchases } = purchasesFromText(lines.join("\n"));
    expect(purchases).toHaveLength(12);
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    await codec.registerAll([t.purchases]);
    const producer = principalKafka(stack.kafkaBrokers, "ingestor").producer();
    await producer.connect();
    try {
      await producer.send({
        topic: t.purchases.name,
        messages: await Promise.all(
          purchases.map(async (p) => ({ key: p.memberId, value: await codec.encode(t.purchases, p) })),
        ),
      });
    } finally {
      await producer.disconnect();
    }
    const window = ["--from", "1997-04-01", "--to", "1997-05-01", "--json"];
    const fromFile = await cli(["rules", "backtest", "rules/standard", "--orders", orders, ...window], env);
    expect(fromFile.code).toBe(0);
    const fromTopic = await cli(["rules", "backtest", "rules/standard", "--from-topic", ...window], env);
    expect(fromTopic.stderr).toBe("");
    expect(fromTopic.code).toBe(0);
    const { orders: _o, ...a } = JSON.parse(fromFile.stdout) as Record<string, unknown>;
    const { history, ...b } = JSON.parse(fromTopic.stdout) as Record<string, unknown>;
    expect(history).toEqual({
      topics: { [t.purchases.name]: 12, [t.memberChanges.name]: 0 },
      purchases: 12,
      memberEvents: 0,
      skipped: 0,
      principal: "backtest",
    });
    expect(b).toEqual(a);
    const report = b as {
      events: { warmUp: number; inWindow: number };
      totals: { running: { netPoints: number } };
    };
    expect(report.events).toEqual({ warmUp: 6, inWindow: 6 });
    expect(report.totals.running.netPoints).toBeGreaterThan(0);

    // --orders and --from-topic exclude each other (a usage error, exit 2).
    const both = await cli(
      ["rules", "backtest", "rules/standard", "--from-topic", "--orders", orders, ...window],
      env,
    );
    expect(both.code).toBe(2);
  });
});

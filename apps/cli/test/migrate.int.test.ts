// `loyalty migrate` against the real stack: the namespace's schema, topics and registry subjects.
import { namespacedTopics } from "@loyalty/contracts";
import { loadMigrations } from "@loyalty/db";
import { type TestStack, registryHeaders, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { cli, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

describe("loyalty migrate", () => {
  it("migrates the namespace's schema, creates its topics, registers its subjects; then nothing left to do", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    const r = await cli(["migrate", "--json"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      namespace: string;
      migrationsApplied: string[];
      topicsCreated: string[];
      schemasRegistered: string[];
    };
    const topics = Object.values(namespacedTopics(ns)).map((t) => t.name);
    expect(out.namespace).toBe(ns);
    expect(out.migrationsApplied).toEqual(loadMigrations().map((m) => m.id));
    expect(out.topicsCreated.sort()).toEqual([...topics].sort());

    // The effects: rows in the namespace's schema (not public), topics on the broker, subjects.
    const client = new pg.Client({ connectionString: stack.databaseUrl });
    await client.connect();
    try {
      const rows = await client.query<{ id: string }>(`select id from ${ns}.schema_migrations order by id`);
      expect(rows.rows.map((x) => x.id)).toEqual(out.migrationsApplied);
    } finally {
      await client.end();
    }
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    try {
      const onBroker = new Set(await admin.listTopics());
      for (const t of topics) expect(onBroker.has(t)).toBe(true);
    } finally {
      await admin.disconnect();
    }
    // One subject at a time: the registry's list of all subjects stops at 1,000.
    for (const t of topics) {
      const r = await fetch(
        `${stack.schemaRegistryUrl}/subjects/${encodeURIComponent(`${t}-value`)}/versions`,
        { headers: registryHeaders() },
      );
      expect(r.status, `${t}-value`).toBe(200);
      expect(((await r.json()) as number[]).length).toBeGreaterThan(0);
    }

    const again = await cli(["migrate", "--json"], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ migrationsApplied: [], topicsCreated: [] });
  });

  it("a namespace that has never run holds no state: tiers stats says so and exits 1", async () => {
    const r = await cli(["tiers", "stats"], stackEnv(stack, testNamespace()));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds no engine state/);
  });
});

// /readyz on the real stack: a running service (the counting-consumer fixture, through
// runService) answers 200 with each check; a runner whose pool points at a port nothing listens
// on answers 503 naming postgres, while its Kafka check still passes.
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { AvroCodec, namespacedTopics } from "@loyalty/contracts";
import { createPool } from "@loyalty/db";
import {
  type RunningService,
  type TestStack,
  createTopic,
  requireStack,
  serviceEnv,
  spawnService,
  testKafka,
  testNamespace,
  uniqueName,
} from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BatchingProducer,
  ConsumerRunner,
  DeadLetterPublisher,
  ManualClock,
  RuntimeMetrics,
  checkReadiness,
  consumerCheck,
  createLogger,
  lagCheck,
  postgresCheck,
  startOpsServer,
} from "../src/index.ts";
import { testStreamKafka } from "./stream-kafka.ts";

let stack: TestStack;
let svc: RunningService | undefined;

beforeAll(async () => {
  stack = await requireStack();
});
afterAll(async () => {
  await svc?.stop();
});

/** A port that was free a moment ago: nothing listens on it. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const address = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (address === null || typeof address === "string") throw new TypeError("no TCP address");
  return address.port;
}

type Body = { status: string; failing: string[]; checks: Record<string, { ok: boolean; error?: string }> };

async function get(port: number, path: string): Promise<{ status: number; body: Body } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.json()) as Body };
  } catch {
    return null; // not listening yet
  }
}

/** Polls until `done` holds or the deadline passes; returns the last answer. */
async function until(port: number, path: string, done: (r: { status: number; body: Body }) => boolean) {
  const deadline = Date.now() + 90_000;
  let last: { status: number; body: Body } | null = null;
  while (Date.now() < deadline) {
    last = await get(port, path);
    if (last && done(last)) return last;
    await sleep(250);
  }
  return last;
}

describe("/readyz", () => {
  it("answers 200 with each check on a running service, /livez and /healthz too", async () => {
    const topic = uniqueName("test.readyz");
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    await createTopic(admin, topic, 1);
    await admin.disconnect();
    const port = await freePort();
    svc = await spawnService(
      new URL("./fixtures/counting-consumer.ts", import.meta.url).pathname,
      serviceEnv(stack, testNamespace(), {
        SERVICE_NAME: uniqueName("readyz-consumer"),
        TEST_TOPIC: topic,
        HTTP_PORT: String(port),
      }),
    );
    const ready = await until(port, "/readyz", (r) => r.status === 200);
    expect(ready).toMatchObject({
      status: 200,
      body: {
        status: "ready",
        failing: [],
        checks: { postgres: { ok: true }, kafka: { ok: true }, lag: { ok: true, max: null } },
      },
    });
    expect(await get(port, "/livez")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await get(port, "/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await svc.stop()).toBe(0);
    svc = undefined;
  });

  it("answers 503 naming postgres when the pool's database does not answer", async () => {
    const topic = uniqueName("test.readyz-pg");
    const kafka = testKafka(stack.kafkaBrokers);
    const stream = testStreamKafka(stack.kafkaBrokers);
    const admin = kafka.admin();
    await admin.connect();
    await createTopic(admin, topic, 1);
    await admin.disconnect();
    const metrics = new RuntimeMetrics("readyz-test");
    const producer = new BatchingProducer(stream);
    const runner = new ConsumerRunner({
      service: "readyz-test",
      kafka: stream,
      groupId: uniqueName("readyz-test"),
      topics: [topic],
      producer,
      // Never used: the handler rejects nothing.
      dlq: new DeadLetterPublisher(
        "readyz-test",
        new AvroCodec(stack.schemaRegistryUrl),
        producer,
        namespacedTopics(testNamespace()).dlq,
      ),
      logger: createLogger("readyz-test", "silent"),
      metrics,
      clock: new ManualClock(),
      handler: async () => undefined,
    });
    // The stack's database URL with the port of nothing: every connection is refused.
    const dead = new URL(stack.databaseUrl);
    dead.port = String(await freePort());
    const pool = createPool(dead.toString(), { max: 1 });
    const checks = [postgresCheck(pool), consumerCheck(runner), lagCheck(metrics, 0)];
    const ops = await startOpsServer(
      0,
      metrics,
      () => runner.isHealthy,
      "127.0.0.1",
      [],
      undefined,
      () => checkReadiness(checks, 2000),
    );
    await runner.start();
    try {
      // Wait for the group join, so that the only failing check is the database.
      const answer = await until(ops.port, "/readyz", (r) => r.body.checks.kafka?.ok === true);
      expect(answer?.status).toBe(503);
      expect(answer?.body.status).toBe("unavailable");
      expect(answer?.body.failing).toEqual(["postgres"]);
      expect(answer?.body.checks.postgres).toEqual({ ok: false, error: "ECONNREFUSED" });
      expect(await get(ops.port, "/livez")).toEqual({ status: 200, body: { status: "ok" } });
    } finally {
      await runner.stop();
      await producer.disconnect();
      await pool.end();
      await new Promise<void>((r) => ops.server.close(() => r()));
    }
  });
});

// Shared pieces of the API's integration tests: the service as a child process on a free port,
// ledger seeding that follows the rules engine's invariants (rows and their loyalty.points.v1
// records, which the API's read model applies), and a small HTTP client that holds every answer
// to the OpenAPI document (status, content type, required headers, body).
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { AvroCodec, type PointsMovement, type TopicSpec, namespacedTopics } from "@loyalty/contracts";
import { type Pool, createPool, inTransaction, migrate } from "@loyalty/db";
import { ensureTopics } from "@loyalty/stream-runtime";
import { type RunningService, type TestStack, serviceEnv, spawnService, testKafka } from "@loyalty/testkit";
import type { Producer } from "kafkajs";
import { entryIdOf } from "../../src/domain/ids.ts";
import { openApiDocument } from "../../src/http/openapi.ts";
import { ResponseContract } from "../contract.ts";

export const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
export const REPO = new URL("../../../../", import.meta.url).pathname;
export const ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789";
export const DAY = 86_400_000;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Api {
  base: string;
  service: RunningService;
}

export async function startApi(stack: TestStack, ns: string, env: Record<string, string> = {}): Promise<Api> {
  const port = await freePort();
  const service = await spawnService(
    MAIN,
    serviceEnv(stack, ns, {
      SERVICE_NAME: "api",
      API_PORT: String(port),
      API_ADMIN_KEY: ADMIN_KEY,
      API_RATE_LIMIT_PER_SECOND: "10000",
      API_RATE_BURST: "10000",
      // Every test request comes from 127.0.0.1: the per-IP limits are shown in keys.int.test.ts.
      API_IP_RATE_LIMIT_PER_SECOND: "100000",
      API_IP_RATE_BURST: "100000",
      API_IP_AUTH_FAILURES_PER_SECOND: "1000",
      API_IP_AUTH_FAILURE_BURST: "10000",
      ...env,
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (service.child.exitCode !== null) throw new Error(`API exited with ${service.child.exitCode}`);
    let up = false;
    try {
      up = (await fetch(`${base}/healthz`)).ok;
    } catch {
      // not listening yet
    }
    if (up) {
      await call(base, "GET", "/healthz");
      return { base, service };
    }
    if (Date.now() > deadline) throw new Error("API did not start within 60 s");
    await sleep(200);
  }
}

export interface Res {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test-side JSON answers are asserted field by field
  body: any;
}

/** The document the API under test serves, built from the same route specs. */
export const CONTRACT = new ResponseContract(openApiDocument());

export interface CallOptions {
  key?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is (set content-type in headers). */
  raw?: string;
  headers?: Record<string, string>;
  /** The document to hold the answer to; the API's own unless a test shows a violation. */
  contract?: ResponseContract;
}

/**
 * One HTTP request to the API. Every answer is checked against the OpenAPI document before the
 * test sees it: one the document does not allow throws ContractViolation.
 */
export async function call(base: string, method: string, path: string, opts: CallOptions = {}): Promise<Res> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
      ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    ...(opts.raw !== undefined ? { body: opts.raw } : {}),
  });
  const text = await res.text();
  (opts.contract ?? CONTRACT).assert({ method, path, status: res.status, headers: res.headers, text });
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** Where seedLots publishes the records of the entries it writes: the pool's namespace's points topic. */
interface SeedSink {
  stack: TestStack;
  topics: ReturnType<typeof namespacedTopics>;
  topic: TopicSpec;
  codec: AvroCodec;
  producer: Promise<Producer> | null;
}
const sinks = new WeakMap<Pool, SeedSink>();

export async function namespacePool(stack: TestStack, ns: string): Promise<Pool> {
  await migrate(stack.databaseUrl, undefined, ns);
  const pool = createPool(stack.databaseUrl, { max: 4, namespace: ns });
  const sink: SeedSink = {
    stack,
    topics: namespacedTopics(ns),
    topic: namespacedTopics(ns).points,
    codec: new AvroCodec(stack.schemaRegistryUrl),
    producer: null,
  };
  sinks.set(pool, sink);
  const end = pool.end.bind(pool);
  // The seeding producer goes with the pool.
  pool.end = (async () => {
    if (sink.producer) await (await sink.producer).disconnect();
    await end();
  }) as typeof pool.end;
  return pool;
}

/**
 * Publishes ledger entries' records on loyalty.points.v1, as the rules engine does after writing
 * them (keyed by member id, so in the member's partition with the engine's own records).
 */
export async function publishMovements(pool: Pool, movements: readonly PointsMovement[]): Promise<void> {
  const sink = sinks.get(pool);
  if (!sink) throw new TypeError("publishMovements needs a pool from namespacePool");
  sink.producer ??= (async () => {
    const kafka = testKafka(sink.stack.kafkaBrokers);
    // Before any service has started in the namespace, the topics are made as a service would.
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, {
      partitions: Number(process.env.LOYALTY_PARTITIONS ?? 6),
      replication: 1,
      topics: Object.values(sink.topics),
    }).finally(() => admin.disconnect());
    const p = kafka.producer({ idempotent: true });
    await p.connect();
    await sink.codec.register(sink.topic);
    return p;
  })();
  const producer = await sink.producer;
  await producer.send({
    topic: sink.topic.name,
    acks: -1,
    messages: await Promise.all(
      movements.map(async (m) => ({
        key: m.memberId,
        value: await sink.codec.encode(sink.topic, m),
        timestamp: String(m.eventTime),
      })),
    ),
  });
}

/** Waits until the API's read model of loyalty.points.v1 holds every one of the entries. */
export async function untilApplied(
  pool: Pool,
  entryIds: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `${entryIds.length} entries in the API's points read model`,
    async () =>
      (
        await pool.query<{ n: number }>(
          "select count(*)::int as n from api_points_entries where entry_id = any($1)",
          [entryIds],
        )
      ).rows[0]?.n ?? 0,
    (n) => n === entryIds.length,
    timeoutMs,
  );
}

/**
 * Earns lots for a member the way the rules engine does: per lot an `earn` entry, the lot
 * (lot id = entry id), and the balance, in one transaction, then the entries' records on
 * loyalty.points.v1 (with the lot each opened). Waits until the API's read model has applied them
 * unless `wait` is false (an API not started yet: `untilApplied` with the ids returned).
 */
export async function seedLots(
  pool: Pool,
  memberId: string,
  lots: readonly { points: number; expiresAt: number; earnedAt?: number; tag?: string }[],
  opts: { wait?: boolean } = {},
): Promise<string[]> {
  const movements: PointsMovement[] = [];
  const ids = await inTransaction(pool, async (c) => {
    movements.length = 0;
    await c.query("insert into ledger_balances (member_id, balance) values ($1, 0) on conflict do nothing", [
      memberId,
    ]);
    const b = await c.query<{ balance: number }>(
      "select balance from ledger_balances where member_id = $1 for update",
      [memberId],
    );
    let balance = b.rows[0]?.balance ?? 0;
    const ids: string[] = [];
    for (const [i, l] of lots.entries()) {
      const source = `seed:${memberId}:${l.tag ?? i}`;
      const id = entryIdOf(source, "seed", "earn", memberId);
      const earnedAt = l.earnedAt ?? l.expiresAt - 365 * DAY;
      balance += l.points;
      await c.query(
        `insert into ledger_entries (entry_id, member_id, kind, points, balance_after, rule_id, rule_version,
                                     source_event_id, event_time)
         values ($1, $2, 'earn', $3, $4, 'seed', 1, $5, $6)`,
        [id, memberId, l.points, balance, source, new Date(earnedAt)],
      );
      await c.query(
        `insert into ledger_lots (lot_id, member_id, points, remaining, earned_at, expires_at)
         values ($1, $2, $3, $3, $4, $5)`,
        [id, memberId, l.points, new Date(earnedAt), new Date(l.expiresAt)],
      );
      movements.push({
        eventId: id,
        memberId,
        kind: "EARNED",
        points: l.points,
        balanceAfter: balance,
        ruleId: "seed",
        ruleVersion: 1,
        ruleSetVersion: null,
        sourceEventId: source,
        orderId: null,
        reason: null,
        eventTime: earnedAt,
        lotExpiresAt: l.expiresAt,
        ruleSetId: null,
        lots: [{ lotId: id, points: l.points, expiresAt: l.expiresAt }],
      });
      ids.push(id);
    }
    await c.query("update ledger_balances set balance = $2 where member_id = $1", [memberId, balance]);
    return ids;
  });
  await publishMovements(pool, movements);
  if (opts.wait !== false) await untilApplied(pool, ids);
  return ids;
}

export async function lotsOf(pool: Pool, memberId: string) {
  const r = await pool.query<{ lot_id: string; points: number; remaining: number; expires_at: Date }>(
    "select lot_id, points, remaining, expires_at from ledger_lots where member_id = $1 order by lot_id",
    [memberId],
  );
  return new Map(
    r.rows.map((l) => [
      l.lot_id,
      { points: l.points, remaining: l.remaining, expiresAt: l.expires_at.getTime() },
    ]),
  );
}

export async function balanceOf(pool: Pool, memberId: string): Promise<number | undefined> {
  const r = await pool.query<{ balance: number }>(
    "select balance from ledger_balances where member_id = $1",
    [memberId],
  );
  return r.rows[0]?.balance;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(200);
    last = await probe();
  }
  return last;
}

/** sha256 over the balances, the lots and the entry ids, each in a fixed order. */
export async function ledgerDigest(pool: Pool): Promise<{ digest: string; parts: Record<string, string> }> {
  const part = async (sql: string) => {
    const r = await pool.query<{ line: string }>(sql);
    const h = createHash("sha256");
    for (const row of r.rows) h.update(`${row.line}\n`);
    return h.digest("hex");
  };
  const parts = {
    balances: await part(
      "select member_id || ' ' || balance || ' ' || debt || ' ' || shortfall as line from ledger_balances order by member_id",
    ),
    lots: await part(
      `select lot_id || ' ' || member_id || ' ' || points || ' ' || remaining || ' ' ||
              (extract(epoch from expires_at) * 1000)::bigint as line from ledger_lots order by lot_id`,
    ),
    entries: await part("select entry_id as line from ledger_entries order by entry_id"),
  };
  const digest = createHash("sha256")
    .update(`${parts.balances} ${parts.lots} ${parts.entries}`)
    .digest("hex");
  return { digest, parts };
}

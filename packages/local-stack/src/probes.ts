import { Redis } from "ioredis";
import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import type { Endpoints } from "./endpoints.ts";

export type Probe = { ok: true; detail: string } | { ok: false; detail: string };

/** A principal's name and password, for SASL/SCRAM on the broker and basic auth on the registry. */
export interface StackAuth {
  username: string;
  password: string;
  /** The PEM CA the broker's certificate chains to, when the broker speaks TLS (SASL_SSL). */
  ca?: string;
}

/** Ready means the broker answers a metadata request, not merely that its port is open. */
export async function probeKafka(brokers: string[], auth?: StackAuth): Promise<Probe> {
  const admin = new Kafka({
    clientId: "loyalty-probe",
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1500,
    retry: { retries: 0 },
    ...(auth === undefined
      ? {}
      : { sasl: { mechanism: "scram-sha-512" as const, username: auth.username, password: auth.password } }),
    ...(auth?.ca === undefined ? {} : { ssl: { ca: [auth.ca] } }),
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return { ok: true, detail: `cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s)` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function probeRegistry(url: string, auth?: StackAuth): Promise<Probe> {
  const headers: Record<string, string> =
    auth === undefined
      ? {}
      : { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` };
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000), headers });
    if (!res.ok) return { ok: false, detail: `HTTP ${res.status}` };
    const subjects = (await res.json()) as unknown[];
    return { ok: true, detail: `${subjects.length} subject(s)` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

export async function probePostgres(url: string): Promise<Probe> {
  // The server, not the programme's database: that one is created by the migrations.
  const server = new URL(url);
  server.pathname = "/postgres";
  const client = new pg.Client({ connectionString: server.toString(), connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    const r = await client.query<{ v: string }>("select current_setting('server_version') as v");
    return { ok: true, detail: `PostgreSQL ${r.rows[0]?.v}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function probeRedis(url: string): Promise<Probe> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    const pong = await redis.ping();
    return { ok: true, detail: pong };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    redis.disconnect();
  }
}

export async function probeAll(
  e: Endpoints,
  auth?: StackAuth,
): Promise<Record<"kafka" | "registry" | "postgres" | "redis", Probe>> {
  const [kafka, registry, postgres, redis] = await Promise.all([
    probeKafka(e.kafkaBrokers, auth),
    probeRegistry(e.schemaRegistryUrl, auth),
    probePostgres(e.databaseUrl),
    probeRedis(e.redisUrl),
  ]);
  return { kafka, registry, postgres, redis };
}

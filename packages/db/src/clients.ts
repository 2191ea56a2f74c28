import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";

// bigint columns (ledger sums) come back as JS numbers: points and minor units stay far
// below 2^53, and a silent string would break arithmetic elsewhere.
pg.types.setTypeParser(20, (v) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint ${v} exceeds the safe integer range`);
  return n;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** A namespace's tables live in a PostgreSQL schema of that name (default: public). */
export function schemaFor(namespace: string): string {
  return namespace === "" ? "public" : namespace;
}

export function createPool(
  databaseUrl: string,
  opts: { max?: number; namespace?: string; applicationName?: string } = {},
): pg.Pool {
  const schema = schemaFor(opts.namespace ?? "");
  return new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    // Names the service in pg_stat_activity and the server's log (%a): whose statement is slow.
    ...(opts.applicationName ? { application_name: opts.applicationName } : {}),
    ...(schema === "public" ? {} : { options: `-c search_path=${schema}` }),
  });
}

const preparedNames = new Map<string, string>();

/**
 * A statement the server parses and plans once per connection, then runs by name: pass it as
 * the query's config, `c.query(prepared("select ... where id = any($1)"), [ids])`. For the
 * statements a service runs on every batch: unnamed, PostgreSQL parses and plans each call
 * anew (`pnpm bench:prepared`: a 75-id lookup in its own transaction, 0.60–0.63 backend
 * CPU-ms per call unnamed, 0.48–0.59 prepared). The name is a hash of the text, so one text is
 * one statement however many call sites use it, and no two texts share a name. Only for text
 * that is the same on every call, or one of a few (no list interpolated per row): each
 * distinct text stays prepared on every connection that ran it until the connection closes.
 * A statement on a temporary table recreated per transaction gains nothing (it is planned
 * again after each drop).
 */
export function prepared(text: string): { name: string; text: string } {
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = `loyalty_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    preparedNames.set(text, name);
  }
  return { name, text };
}

/** A namespace's keys are prefixed with it. */
export function createRedis(redisUrl: string, namespace = ""): Redis {
  return new Redis(redisUrl, {
    // Connects at the first command: the kit hands every service a client, and three of the
    // five (ingestor, rules engine, churn alert) never use it.
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    ...(namespace ? { keyPrefix: `${namespace}:` } : {}),
  });
}

const RETRY_CODES = new Set(["40001", "40P01"]);

/**
 * Runs fn in a transaction; rolls back and rethrows on any error. With attempts > 1 a
 * deadlock or serialisation failure runs it again (fn must then be safe to repeat).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (c: pg.PoolClient) => Promise<T>,
  opts: { attempts?: number } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const out = await fn(client);
      await client.query("commit");
      return out;
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      const code = (err as { code?: unknown }).code;
      if (attempt >= (opts.attempts ?? 1) || typeof code !== "string" || !RETRY_CODES.has(code)) throw err;
    } finally {
      client.release();
    }
  }
}

// LOYALTY_SQL_PROFILE=1: time spent per statement (client side, round trip included), printed
// to stderr at exit. For finding where a service's database time goes; off by default.
if (process.env.LOYALTY_SQL_PROFILE === "1") {
  const totals = new Map<string, { n: number; ms: number }>();
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : ((first as { text?: string })?.text ?? "?");
    const key = text.replace(/\s+/g, " ").slice(0, 90);
    const t0 = performance.now();
    const done = () => {
      const s = totals.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += performance.now() - t0;
      totals.set(key, s);
    };
    // pg's Pool.query passes a callback and gets no promise back: time the callback too.
    const last = args[args.length - 1];
    if (typeof last === "function") {
      const callback = last as (...a: unknown[]) => unknown;
      args[args.length - 1] = function (this: unknown, ...cbArgs: unknown[]) {
        done();
        return callback.apply(this, cbArgs);
      };
      return original.apply(this, args);
    }
    const out = original.apply(this, args);
    if (out && typeof (out as Promise<unknown>).then === "function")
      (out as Promise<unknown>).then(done, done);
    return out;
  };
  process.on("exit", () => {
    const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
    for (const [k, v] of rows)
      process.stderr.write(
        `sql ${(v.ms / 1000).toFixed(2).padStart(8)} s ${String(v.n).padStart(7)}× ${k}\n`,
      );
  });
}

// What `prepared` (src/clients.ts) saves: PostgreSQL backend CPU for a statement shaped like the
// services' per-batch reads (a lookup of a batch's member ids with `= any($1)`, locked in id
// order, as the rules engine loads balances), sent as an unnamed statement (parsed and planned on
// every call) and as a prepared one, alternating in the same run on the same connection. Each
// call is its own transaction of 75 ids out of a 30,000-row table.
//   pnpm bench:prepared [--calls N] [--rounds N]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { prepared } from "../src/index.ts";
import { schemaPool } from "../test/schema-pool.ts";

const { values } = parseArgs({ options: { calls: { type: "string" }, rounds: { type: "string" } } });
const calls = Number(values.calls ?? 2000);
const rounds = Number(values.rounds ?? 2);
if (!Number.isInteger(calls) || calls < 1)
  throw new RangeError(`--calls must be a positive integer, got ${values.calls}`);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);

const { pool, drop } = await schemaPool("bench_prepared");
const c = await pool.connect();
try {
  await c.query(
    "create table balances (member_id text primary key, balance bigint not null, debt bigint not null default 0)",
  );
  await c.query(
    `insert into balances (member_id, balance)
     select lpad(i::text, 8, '0'), i % 1000 from generate_series(1, 30000) as i`,
  );
  await c.query("analyze balances");
  const ids = (
    await c.query<{ member_id: string }>("select member_id from balances order by random()")
  ).rows.map((r) => r.member_id);
  const backend = (await c.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid;
  if (backend === undefined) throw new Error("no backend pid");
  // utime + stime of the backend serving this connection (same machine as the server).
  const cpu = () => {
    const f = readFileSync(`/proc/${backend}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const text =
    "select member_id, balance, debt from balances where member_id = any($1) order by member_id for update";
  const run = async (named: boolean) => {
    const c0 = cpu();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      const from = (i * 75) % (ids.length - 75);
      await c.query("begin");
      const r = await c.query(named ? prepared(text) : text, [ids.slice(from, from + 75)]);
      if (r.rowCount !== 75) throw new Error(`expected 75 rows, got ${r.rowCount}`);
      await c.query("commit");
    }
    return { cpu: cpu() - c0, ms: performance.now() - t0 };
  };
  console.log(`${calls} transactions of one 75-id lookup each, per round; backend CPU-seconds and wall time`);
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? [false, true] : [true, false];
    for (const named of order) {
      const r = await run(named);
      console.log(
        `  round ${round}  ${named ? "prepared" : "unnamed "}  ${r.cpu.toFixed(2)} CPU-s  ${(r.ms / 1000).toFixed(2)} s  ${((1000 * r.cpu) / calls).toFixed(3)} CPU-ms per call`,
      );
    }
  }
} finally {
  c.release();
  await drop();
}

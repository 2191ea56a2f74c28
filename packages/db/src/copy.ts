// Bulk appends with COPY ... FROM STDIN, PostgreSQL's fastest input path.
//
// A batch's append-only rows (ledger entries, lots, movements, priced events) went in as one
// `insert ... select from jsonb_to_recordset($1)` or `unnest($1::text[], ...)` statement: the
// server parses one parameter of megabytes (a JSON document, or arrays whose every element pg
// quoted) and then builds each row from it. COPY's text format is parsed a line at a time, straight
// into the columns' input functions. Measured 2026-12-07 on 199,000 ledger entries of a CDNOW
// replay, in transactions of 20,000 rows, backend CPU from /proc: into a table without indexes
// jsonb_to_recordset 3.7-5.1 s, unnest 6.1 s, COPY 1.3-1.4 s; with the ledger's indexes
// jsonb_to_recordset 5.7-8.0 s, COPY 3.8-4.2 s (docs/adr/0016-state-owned-by-tasks.md).
//
// COPY has no `on conflict`: a duplicate key fails the statement (and the transaction) with
// unique_violation, as a plain insert does. Use it for rows that are new by construction.
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

/** A value of one column: null/undefined is SQL NULL; objects and arrays go as JSON text. */
export type CopyValue = string | number | bigint | boolean | Date | null | undefined | object;

const SPECIAL = /[\\\n\r\t]/;
const SPECIALS = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** One field in COPY's text format (backslash escapes, `\N` for NULL). */
export function copyField(v: CopyValue): string {
  if (v === null || v === undefined) return "\\N";
  let s: string;
  if (typeof v === "string") s = v;
  else if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RangeError(`COPY of a non-finite number: ${v}`);
    s = String(v);
  } else if (typeof v === "bigint") s = v.toString();
  else if (typeof v === "boolean") s = v ? "t" : "f";
  else if (v instanceof Date) s = v.toISOString();
  else s = JSON.stringify(v);
  return SPECIAL.test(s) ? s.replace(SPECIALS, (ch) => ESCAPES[ch] ?? ch) : s;
}

/** Rows in COPY's text format: fields joined by tabs, each row ended by a newline. */
export function copyText(rows: readonly (readonly CopyValue[])[]): string {
  let out = "";
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) out += (i === 0 ? "" : "\t") + copyField(row[i]);
    out += "\n";
  }
  return out;
}

const IDENT = /^[a-z_][a-z0-9_]*$/;

/**
 * Appends `rows` to `table` (its `columns`, in order) with one COPY on `client`, inside whatever
 * transaction the client is in. Table and column names are identifiers of the caller's code, never
 * input: anything but a plain lower-case name is refused.
 */
export async function copyRows(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly CopyValue[])[],
): Promise<void> {
  if (rows.length === 0) return;
  for (const name of [table, ...columns])
    if (!IDENT.test(name)) throw new TypeError(`copyRows: ${JSON.stringify(name)} is not a plain identifier`);
  for (const row of rows)
    if (row.length !== columns.length)
      throw new TypeError(
        `copyRows into ${table}: a row has ${row.length} values for ${columns.length} columns`,
      );
  const sink = client.query(copyFrom(`copy ${table} (${columns.join(", ")}) from stdin`));
  await pipeline(Readable.from([Buffer.from(copyText(rows))]), sink);
}

/**
 * Upserts `rows` into `table` through COPY: they are copied into a temporary staging table shaped
 * like `table` (one per connection, emptied at commit), then moved with one
 * `insert ... select ... on conflict (key) do update set <set>`, `set` being SQL of the caller's
 * code (`excluded.x` is the staged row's value). Cheaper than one jsonb_to_recordset or unnest
 * parameter for rows carrying JSON (members' states): see docs/adr/0016. Must run inside a
 * transaction (at autocommit the staged rows would be gone before the insert reads them): the
 * insert must touch every staged row, or it throws.
 */
export async function copyUpsert(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  rows: readonly (readonly CopyValue[])[],
  upsert: { key: readonly string[]; set: string },
): Promise<void> {
  if (rows.length === 0) return;
  for (const name of [table, ...upsert.key])
    if (!IDENT.test(name))
      throw new TypeError(`copyUpsert: ${JSON.stringify(name)} is not a plain identifier`);
  const stage = `copy_stage_${table}`;
  // Every time, not once per connection: created in a transaction that rolls back, it is gone.
  await client.query(
    `create temporary table if not exists ${stage} (like ${table} including defaults) on commit delete rows`,
  );
  await copyRows(client, stage, columns, rows);
  const list = columns.join(", ");
  const r = await client.query(
    `insert into ${table} (${list}) select ${list} from ${stage}
     on conflict (${upsert.key.join(", ")}) do update set ${upsert.set}`,
  );
  if (r.rowCount !== rows.length)
    throw new CopyUpsertError(
      `copyUpsert into ${table}: ${r.rowCount} of ${rows.length} staged rows written (outside a transaction?)`,
    );
}

/** copyUpsert wrote fewer rows than it staged: a caller's bug, never retriable. */
export class CopyUpsertError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "CopyUpsertError";
  }
}

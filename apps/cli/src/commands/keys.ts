// `loyalty keys create|list|revoke|expire`: the member API's keys, managed in the namespace's
// database with the API's own KeyStore (services/api/src/store/keys.ts), so no running API or
// admin key is needed. A running API refuses a key revoked or expired here within KEY_CACHE_MS
// (half a second): it re-reads a key's row at least that often. The key itself is printed once,
// by `create`, and never stored (only its sha256).
import { ApiError, type KeyInfo, KeyStore, type Scope } from "@loyalty/api";
import { withPool } from "../connections.ts";
import { type CliContext, printJson } from "../context.ts";
import { CheckFailedError, EXIT, NotFoundError } from "../errors.ts";

/** KeyStore's refusals as the CLI's errors (exit 1 with the message). */
function translate(err: unknown): unknown {
  if (err instanceof ApiError) {
    if (err.code === "KEY_NOT_FOUND") return new NotFoundError(err.message);
    return new CheckFailedError(err.message);
  }
  return err;
}

async function withKeys<T>(ctx: CliContext, fn: (keys: KeyStore) => Promise<T>): Promise<T> {
  try {
    return await withPool(ctx, (pool) => fn(new KeyStore(pool, null)));
  } catch (err) {
    throw translate(err);
  }
}

const time = (iso: string | null) => (iso === null ? "-" : iso.replace(/\.\d{3}Z$/, "Z"));

function table(keys: readonly KeyInfo[]): string {
  const rows = [
    ["KEY ID", "NAME", "OWNER", "SCOPES", "STATUS", "CREATED", "LAST USED", "EXPIRES", "REVOKED"],
    ...keys.map((k) => [
      k.keyId,
      k.name,
      k.owner,
      k.scopes.join(","),
      k.status,
      time(k.createdAt),
      time(k.lastUsedAt),
      time(k.expiresAt),
      time(k.revokedAt),
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export interface CreateOpts {
  name: string;
  scopes: Scope[];
  owner?: string;
  expiresAt?: number;
  json?: boolean;
}

export async function create(ctx: CliContext, o: CreateOpts): Promise<number> {
  const now = Date.now();
  if (o.expiresAt !== undefined && o.expiresAt <= now)
    throw new CheckFailedError(`--expires-at ${new Date(o.expiresAt).toISOString()} is not in the future`);
  const created = await withKeys(ctx, (keys) =>
    keys.create({ name: o.name, scopes: o.scopes, owner: o.owner, expiresAt: o.expiresAt ?? null }, now),
  );
  if (o.json) printJson(ctx, created);
  else {
    ctx.out(
      `created key ${created.keyId} (${created.name}, owner ${created.owner}, scopes ${created.scopes.join(",")})`,
    );
    if (created.expiresAt) ctx.out(`expires ${created.expiresAt}`);
    ctx.out(`key (shown once, only its hash is stored): ${created.key}`);
  }
  return EXIT.ok;
}

export async function list(ctx: CliContext, o: { json?: boolean }): Promise<number> {
  const keys = await withKeys(ctx, (k) => k.list());
  if (o.json) printJson(ctx, { keys });
  else
    ctx.out(keys.length === 0 ? "no API keys (the bootstrap key API_ADMIN_KEY is not listed)" : table(keys));
  return EXIT.ok;
}

export async function revoke(ctx: CliContext, keyId: string, o: { json?: boolean }): Promise<number> {
  const key = await withKeys(ctx, (k) => k.revoke(keyId));
  if (o.json) printJson(ctx, key);
  else
    ctx.out(
      `key ${key.keyId} (${key.name}) revoked at ${key.revokedAt}; a running API refuses it within a second`,
    );
  return EXIT.ok;
}

export async function expire(
  ctx: CliContext,
  keyId: string,
  o: { at: number | "now" | "never"; json?: boolean },
): Promise<number> {
  const at = o.at === "now" ? Date.now() : o.at === "never" ? null : o.at;
  const key = await withKeys(ctx, (k) => k.setExpiry(keyId, at));
  if (o.json) printJson(ctx, key);
  else
    ctx.out(
      key.expiresAt === null
        ? `key ${key.keyId} (${key.name}) no longer expires`
        : `key ${key.keyId} (${key.name}) ${key.status === "expired" ? "expired at" : "expires"} ${key.expiresAt}`,
    );
  return EXIT.ok;
}

// API keys: `lk_<keyId>_<secret>` with a 256-bit random secret. Only sha256(key) is stored; a
// presented key is looked up by its id and its hash compared in constant time. The bootstrap
// admin key comes from API_ADMIN_KEY and is hashed at start.
//
// Lifecycle: a key is created (the secret is answered once), listed (never with its secret or
// hash), revoked (for good) and expired (`expires_at`, set at creation or later). The lookup is
// cached per instance for at most `cacheMs` (500 ms by default), so a key revoked or expired
// through any instance or the CLI is refused everywhere within that bound; the instance that
// revokes forgets its cached copy at once. `last_used_at` is written at most once a minute per key
// and instance, after the answer, never on the request's path.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Pool } from "@loyalty/db";
import { ApiError } from "../domain/errors.ts";

export const SCOPES = ["read", "redeem", "admin", "marketer"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  keyId: string;
  scopes: readonly Scope[];
}

export const ENV_ADMIN_KEY_ID = "env-admin";

/** How long a key's row is trusted before it is read again: the bound on refusing a revoked key. */
export const KEY_CACHE_MS = 500;
/** `last_used_at` is written at most this often per key and instance. */
export const LAST_USED_EVERY_MS = 60_000;

export const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

const KEY_FORMAT = /^lk_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;
export const KEY_ID_PATTERN = "^[a-f0-9]{16}$";

/** The parts of a key of the form `lk_<keyId>_<secret>`, or null for anything else. */
export function parseKey(key: string): { keyId: string; secret: string } | null {
  const m = KEY_FORMAT.exec(key);
  return m?.[1] !== undefined && m[2] !== undefined ? { keyId: m[1], secret: m[2] } : null;
}

export function newKey(): { keyId: string; key: string } {
  const keyId = randomBytes(8).toString("hex");
  return { keyId, key: `lk_${keyId}_${randomBytes(32).toString("base64url")}` };
}

/**
 * Admin implies every scope; marketer (the console's scope, ADR 18) implies read; the others are
 * exactly what they say.
 */
export function allows(scopes: readonly Scope[], needed: Scope): boolean {
  return (
    scopes.includes(needed) || scopes.includes("admin") || (needed === "read" && scopes.includes("marketer"))
  );
}

/** Why a presented key was refused (a metric label; the client only ever sees AUTH_INVALID). */
export type AuthFailure = "malformed" | "unknown" | "wrong_secret" | "revoked" | "expired";

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailure };

/** A key as listed: everything but the secret and its hash. */
export interface KeyInfo {
  keyId: string;
  name: string;
  owner: string;
  scopes: Scope[];
  createdBy: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  status: "active" | "revoked" | "expired";
}

export interface CreatedKey extends KeyInfo {
  /** The key itself, answered once and never stored. */
  key: string;
}

export interface NewKey {
  name: string;
  scopes: readonly Scope[];
  /** Who answers for the key (a team, a system); the name when not given. */
  owner?: string | undefined;
  /** Epoch ms; null or absent: never expires. */
  expiresAt?: number | null | undefined;
  /** The key id of the admin key that creates it; null from the CLI. */
  createdBy?: string | null | undefined;
}

interface CachedKey {
  hash: Buffer;
  scopes: Scope[];
  revoked: boolean;
  expiresAt: number | null;
}

interface KeyRow {
  key_id: string;
  name: string;
  owner: string;
  scopes: Scope[];
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const KEY_COLUMNS =
  "key_id, name, owner, scopes, created_by, created_at, last_used_at, expires_at, revoked_at";

function info(r: KeyRow, now: number): KeyInfo {
  const expiresAt = r.expires_at?.getTime() ?? null;
  return {
    keyId: r.key_id,
    name: r.name,
    owner: r.owner,
    scopes: r.scopes,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    expiresAt: r.expires_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
    status: r.revoked_at ? "revoked" : expiresAt !== null && expiresAt <= now ? "expired" : "active",
  };
}

export class KeyStore {
  private readonly adminHash: Buffer | null;
  private readonly cache = new Map<string, { at: number; row: CachedKey | null }>();
  private readonly lastUsedWritten = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();

  /** `adminKey`: the bootstrap key (API_ADMIN_KEY); null where keys are only managed (the CLI). */
  constructor(
    private readonly pool: Pool,
    adminKey: string | null,
    private readonly cacheMs = KEY_CACHE_MS,
    private readonly onBackgroundError: (err: unknown) => void = () => undefined,
  ) {
    this.adminHash = adminKey === null ? null : sha256(adminKey);
  }

  /** The principal a presented key stands for, or why it is refused. `now` is wall time (ms). */
  async check(presented: string, now: number): Promise<AuthResult> {
    const hash = sha256(presented);
    if (this.adminHash && timingSafeEqual(hash, this.adminHash))
      return { ok: true, principal: { keyId: ENV_ADMIN_KEY_ID, scopes: ["admin"] } };
    const keyId = parseKey(presented)?.keyId;
    if (keyId === undefined) return { ok: false, reason: "malformed" };
    const row = await this.lookup(keyId, now);
    if (!row) return { ok: false, reason: "unknown" };
    if (!timingSafeEqual(hash, row.hash)) return { ok: false, reason: "wrong_secret" };
    if (row.revoked) return { ok: false, reason: "revoked" };
    if (row.expiresAt !== null && row.expiresAt <= now) return { ok: false, reason: "expired" };
    this.touch(keyId, now);
    return { ok: true, principal: { keyId, scopes: row.scopes } };
  }

  /** The principal a presented key stands for, or null for an unknown, wrong, revoked or expired key. */
  async authenticate(presented: string, now: number): Promise<Principal | null> {
    const r = await this.check(presented, now);
    return r.ok ? r.principal : null;
  }

  private async lookup(keyId: string, now: number): Promise<CachedKey | null> {
    const hit = this.cache.get(keyId);
    if (hit !== undefined && now - hit.at < this.cacheMs && now >= hit.at) return hit.row;
    const r = await this.pool.query<{
      key_hash: Buffer;
      scopes: Scope[];
      revoked: boolean;
      expires_at: Date | null;
    }>(
      "select key_hash, scopes, revoked_at is not null as revoked, expires_at from api_keys where key_id = $1",
      [keyId],
    );
    const found = r.rows[0];
    const row = found
      ? {
          hash: found.key_hash,
          scopes: found.scopes,
          revoked: found.revoked,
          expiresAt: found.expires_at?.getTime() ?? null,
        }
      : null;
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(keyId, { at: now, row });
    return row;
  }

  /** Records the key's use at most once a minute, in the background. */
  private touch(keyId: string, now: number): void {
    const last = this.lastUsedWritten.get(keyId);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    if (this.lastUsedWritten.size >= 10_000) this.lastUsedWritten.clear();
    this.lastUsedWritten.set(keyId, now);
    const p = this.pool
      .query(
        "update api_keys set last_used_at = $2 where key_id = $1 and (last_used_at is null or last_used_at < $2)",
        [keyId, new Date(now)],
      )
      .catch((err: unknown) => {
        // Let the next request try again.
        this.lastUsedWritten.delete(keyId);
        this.onBackgroundError(err);
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Resolves when the background `last_used_at` writes have finished (before closing the pool). */
  async idle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** Creates a key; the key itself is returned once and never stored. */
  async create(k: NewKey, now: number = Date.now()): Promise<CreatedKey> {
    const { keyId, key } = newKey();
    const scopes = [...new Set(k.scopes)];
    const r = await this.pool.query<KeyRow>(
      `insert into api_keys (key_id, key_hash, name, owner, scopes, created_by, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7) returning ${KEY_COLUMNS}`,
      [
        keyId,
        sha256(key),
        k.name,
        k.owner ?? k.name,
        scopes,
        k.createdBy ?? null,
        k.expiresAt == null ? null : new Date(k.expiresAt),
      ],
    );
    const row = r.rows[0];
    if (!row) throw new ApiError("INTERNAL", "key insert returned no row");
    return { ...info(row, now), key };
  }

  /** Every key, oldest first, without secrets. */
  async list(now: number = Date.now()): Promise<KeyInfo[]> {
    const r = await this.pool.query<KeyRow>(
      `select ${KEY_COLUMNS} from api_keys order by created_at, key_id`,
    );
    return r.rows.map((row) => info(row, now));
  }

  async get(keyId: string, now: number = Date.now()): Promise<KeyInfo> {
    const r = await this.pool.query<KeyRow>(`select ${KEY_COLUMNS} from api_keys where key_id = $1`, [keyId]);
    const row = r.rows[0];
    if (!row) throw notFound(keyId);
    return info(row, now);
  }

  /** Revokes a key for good; revoking it again answers the first revocation. */
  async revoke(keyId: string, now: number = Date.now()): Promise<KeyInfo> {
    const r = await this.pool.query<KeyRow>(
      `update api_keys set revoked_at = coalesce(revoked_at, $2) where key_id = $1 returning ${KEY_COLUMNS}`,
      [keyId, new Date(now)],
    );
    this.cache.delete(keyId);
    const row = r.rows[0];
    if (!row) throw notFound(keyId);
    return info(row, now);
  }

  /**
   * Sets (or, with null, clears) a key's expiry. A time not after `now` expires it at once. A
   * revoked key stays revoked: 409 KEY_REVOKED.
   */
  async setExpiry(keyId: string, expiresAt: number | null, now: number = Date.now()): Promise<KeyInfo> {
    const r = await this.pool.query<KeyRow & { was_revoked: boolean }>(
      `update api_keys set expires_at = case when revoked_at is null then $2 else expires_at end
        where key_id = $1 returning ${KEY_COLUMNS}, revoked_at is not null as was_revoked`,
      [keyId, expiresAt === null ? null : new Date(expiresAt)],
    );
    this.cache.delete(keyId);
    const row = r.rows[0];
    if (!row) throw notFound(keyId);
    if (row.was_revoked)
      throw new ApiError(
        "KEY_REVOKED",
        `key ${keyId} is revoked; its expiry no longer matters`,
        "params.keyId",
      );
    return info(row, now);
  }
}

const notFound = (keyId: string) => new ApiError("KEY_NOT_FOUND", `no API key ${keyId}`, "params.keyId");

// API keys: `lk_<keyId>_<secret>` with a 256-bit random secret. Only sha256(key) is stored; a
// presented key is looked up by its id and its hash compared in constant time. The bootstrap
// admin key comes from API_ADMIN_KEY and is hashed at start.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Pool } from "@loyalty/db";

export const SCOPES = ["read", "redeem", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  keyId: string;
  scopes: readonly Scope[];
}

export const ENV_ADMIN_KEY_ID = "env-admin";

export const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

const KEY_FORMAT = /^lk_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

export function newKey(): { keyId: string; key: string } {
  const keyId = randomBytes(8).toString("hex");
  return { keyId, key: `lk_${keyId}_${randomBytes(32).toString("base64url")}` };
}

/** Admin implies every scope; the others are exactly what they say. */
export function allows(scopes: readonly Scope[], needed: Scope): boolean {
  return scopes.includes(needed) || scopes.includes("admin");
}

interface CachedKey {
  hash: Buffer;
  scopes: Scope[];
  revoked: boolean;
  at: number;
}

export class KeyStore {
  private readonly adminHash: Buffer;
  private readonly cache = new Map<string, CachedKey | null>();
  private readonly cacheAt = new Map<string, number>();

  constructor(
    private readonly pool: Pool,
    adminKey: string,
    private readonly cacheMs = 5_000,
  ) {
    this.adminHash = sha256(adminKey);
  }

  /** The principal a presented key stands for, or null for an unknown, wrong or revoked key. */
  async authenticate(presented: string, now: number): Promise<Principal | null> {
    const hash = sha256(presented);
    if (timingSafeEqual(hash, this.adminHash)) return { keyId: ENV_ADMIN_KEY_ID, scopes: ["admin"] };
    const m = KEY_FORMAT.exec(presented);
    if (!m?.[1]) return null;
    const row = await this.lookup(m[1], now);
    if (!row || row.revoked) return null;
    return timingSafeEqual(hash, row.hash) ? { keyId: m[1], scopes: row.scopes } : null;
  }

  private async lookup(keyId: string, now: number): Promise<CachedKey | null> {
    const at = this.cacheAt.get(keyId);
    if (at !== undefined && now - at < this.cacheMs) return this.cache.get(keyId) ?? null;
    const r = await this.pool.query<{ key_hash: Buffer; scopes: Scope[]; revoked: boolean }>(
      "select key_hash, scopes, revoked_at is not null as revoked from api_keys where key_id = $1",
      [keyId],
    );
    const row = r.rows[0];
    const v = row ? { hash: row.key_hash, scopes: row.scopes, revoked: row.revoked, at: now } : null;
    if (this.cache.size > 10_000) {
      this.cache.clear();
      this.cacheAt.clear();
    }
    this.cache.set(keyId, v);
    this.cacheAt.set(keyId, now);
    return v;
  }

  /** Creates a key; the key itself is returned once and never stored. */
  async create(
    name: string,
    scopes: readonly Scope[],
  ): Promise<{ keyId: string; key: string; name: string; scopes: Scope[]; createdAt: string }> {
    const { keyId, key } = newKey();
    const r = await this.pool.query<{ created_at: Date }>(
      "insert into api_keys (key_id, key_hash, name, scopes) values ($1, $2, $3, $4) returning created_at",
      [keyId, sha256(key), name, [...new Set(scopes)]],
    );
    return {
      keyId,
      key,
      name,
      scopes: [...new Set(scopes)],
      createdAt: (r.rows[0]?.created_at ?? new Date(0)).toISOString(),
    };
  }
}

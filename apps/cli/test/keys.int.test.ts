// `loyalty keys create|list|revoke|expire` against the real PostgreSQL: the effects are read back
// from api_keys and through the API's own KeyStore (what a running API would decide), not from
// the command's output alone. Usage errors exit 2, an unknown or revoked key exits 1.
import { KeyStore, parseKey } from "@loyalty/api";
import { type Pool, createPool, migrate } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, stackEnv } from "./helpers.ts";

let stack: TestStack;
let ns: string;
let pool: Pool;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  await migrate(stack.databaseUrl, undefined, ns);
  pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
  env = stackEnv(stack, ns);
});

afterAll(async () => {
  await pool?.end();
});

/** What the API would answer for this key right now: its principal or why it is refused. */
const apiSees = (key: string) => new KeyStore(pool, null, 0).check(key, Date.now());

describe("loyalty keys create", () => {
  it("creates a key, prints it once, stores only its hash; --json for scripts", async () => {
    const r = await cli(
      ["keys", "create", "--name", "pos-1", "--scopes", "read,redeem", "--owner", "store-ops"],
      env,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const key = /key \(shown once, only its hash is stored\): (lk_[a-f0-9]{16}_[A-Za-z0-9_-]{43})$/m.exec(
      r.stdout,
    )?.[1];
    expect(key).toBeDefined();
    expect(await apiSees(key ?? "")).toMatchObject({ ok: true, principal: { scopes: ["read", "redeem"] } });
    const row = await pool.query<{ key_hash: Buffer; owner: string; created_by: string | null }>(
      "select key_hash, owner, created_by from api_keys where key_id = $1",
      [key?.slice(3, 19)],
    );
    expect(row.rows[0]).toMatchObject({ owner: "store-ops", created_by: null });
    expect(row.rows[0]?.key_hash.length).toBe(32);

    const j = await cli(
      ["keys", "create", "--name", "audit", "--scopes", "read", "--expires-at", "2099-01-31", "--json"],
      env,
    );
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({
      name: "audit",
      owner: "audit",
      scopes: ["read"],
      status: "active",
      expiresAt: "2099-01-31T23:59:59.999Z",
    });
    expect((await apiSees(doc.key)).ok).toBe(true);
  });

  it("refuses unknown scopes, a past expiry and missing options", async () => {
    const bad = await cli(["keys", "create", "--name", "x", "--scopes", "read,root"], env);
    expect([bad.code, bad.stderr]).toEqual([
      2,
      expect.stringMatching(/--scopes must be one of read, redeem, admin, marketer, got root/),
    ]);
    const past = await cli(
      ["keys", "create", "--name", "x", "--scopes", "read", "--expires-at", "2001-01-01"],
      env,
    );
    expect([past.code, past.stderr]).toEqual([1, expect.stringMatching(/is not in the future/)]);
    const none = await cli(["keys", "create", "--scopes", "read"], env);
    expect([none.code, none.stderr]).toEqual([2, expect.stringMatching(/required option '--name <name>'/)]);
  });
});

describe("loyalty keys list", () => {
  it("lists every key with owner, scopes, status and times, never a secret", async () => {
    const created = JSON.parse(
      (await cli(["keys", "create", "--name", "listed", "--scopes", "admin", "--json"], env)).stdout,
    );
    const r = await cli(["keys", "list", "--json"], env);
    expect(r.code).toBe(0);
    const { keys } = JSON.parse(r.stdout) as { keys: Array<Record<string, unknown>> };
    expect(keys.find((k) => k.keyId === created.keyId)).toMatchObject({
      name: "listed",
      owner: "listed",
      scopes: ["admin"],
      status: "active",
      lastUsedAt: null,
      revokedAt: null,
      expiresAt: null,
    });
    // The secret part (a base64url secret may itself contain "_"): never printed by list.
    const secret = parseKey(created.key)?.secret;
    expect(secret).toHaveLength(43);
    expect(r.stdout).not.toContain(secret);
    for (const k of keys) expect(Object.keys(k)).not.toContain("key");
    const text = await cli(["keys", "list"], env);
    expect(text.code).toBe(0);
    expect(text.stdout.split("\n")[0]).toMatch(
      /^KEY ID\s+NAME\s+OWNER\s+SCOPES\s+STATUS\s+CREATED\s+LAST USED\s+EXPIRES\s+REVOKED$/,
    );
    expect(text.stdout).toMatch(new RegExp(`^${created.keyId}\\s+listed\\s+listed\\s+admin\\s+active`, "m"));
    expect(text.stdout).not.toContain(secret);
  });
});

describe("loyalty keys revoke", () => {
  it("revokes a key: the API's KeyStore refuses it; again is the same; unknown exits 1, malformed 2", async () => {
    const created = JSON.parse(
      (await cli(["keys", "create", "--name", "gone", "--scopes", "read", "--json"], env)).stdout,
    );
    const r = await cli(["keys", "revoke", created.keyId, "--json"], env);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ keyId: created.keyId, status: "revoked" });
    expect(await apiSees(created.key)).toEqual({ ok: false, reason: "revoked" });
    const again = await cli(["keys", "revoke", created.keyId, "--json"], env);
    expect(JSON.parse(again.stdout).revokedAt).toBe(doc.revokedAt);
    const text = await cli(["keys", "revoke", created.keyId], env);
    expect(text.stdout).toMatch(new RegExp(`^key ${created.keyId} \\(gone\\) revoked at `));

    const unknown = await cli(["keys", "revoke", "0123456789abcdef"], env);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no API key 0123456789abcdef/)]);
    const malformed = await cli(["keys", "revoke", "lk_0123"], env);
    expect([malformed.code, malformed.stderr]).toEqual([
      2,
      expect.stringMatching(/key id must be 16 hex digits/),
    ]);
  });
});

describe("loyalty keys expire", () => {
  it("expires a key now, moves or clears its expiry; a revoked key's expiry is refused", async () => {
    const created = JSON.parse(
      (await cli(["keys", "create", "--name", "temp", "--scopes", "read", "--json"], env)).stdout,
    );
    const now = await cli(["keys", "expire", created.keyId, "--at", "now", "--json"], env);
    expect(now.code).toBe(0);
    expect(JSON.parse(now.stdout)).toMatchObject({ status: "expired" });
    expect(await apiSees(created.key)).toEqual({ ok: false, reason: "expired" });

    const later = await cli(["keys", "expire", created.keyId, "--at", "2099-06-30T12:00:00Z"], env);
    expect([later.code, later.stdout]).toEqual([
      0,
      `key ${created.keyId} (temp) expires 2099-06-30T12:00:00.000Z`,
    ]);
    expect((await apiSees(created.key)).ok).toBe(true);
    const never = await cli(["keys", "expire", created.keyId, "--at", "never", "--json"], env);
    expect(JSON.parse(never.stdout)).toMatchObject({ expiresAt: null, status: "active" });

    await cli(["keys", "revoke", created.keyId], env);
    const revoked = await cli(["keys", "expire", created.keyId, "--at", "never"], env);
    expect([revoked.code, revoked.stderr]).toEqual([1, expect.stringMatching(/is revoked/)]);
    const bad = await cli(["keys", "expire", created.keyId, "--at", "tomorrow"], env);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--at must be a date YYYY-MM-DD/)]);
  });
});

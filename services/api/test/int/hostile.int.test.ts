import type { ChildProcess } from "node:child_process";
// 10,000 generated hostile HTTP requests (fast-check, fixed seed) against the real API process:
// bad JSON, huge bodies, wrong types, path tricks, other members' ids and other keys'
// redemptions, replayed idempotency keys, random keys, wrong scopes, media types and methods.
// Sent raw over node:http (no URL normalisation) with a keep-alive pool. Asserted: no 5xx and no
// transport error (0 crashes), the server still answers and its process is alive; every refusal
// is the specific 4xx its category expects with the error body the OpenAPI document describes;
// the ledger digest and the API's own tables are what they were before (0 changes from rejected
// input). The only 2xx allowed is the stored first answer to a replayed Idempotency-Key.
import { Agent, request } from "node:http";
import type { Pool } from "@loyalty/db";
import { type TestStack, requireStack, testNamespace } from "@loyalty/testkit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startService as startRulesEngine,
  stopService as stopRulesEngine,
} from "../../../rules-engine/test/int/harness.ts";
import { ERROR_CODES } from "../../src/domain/errors.ts";
import { newKey } from "../../src/store/keys.ts";
import {
  ADMIN_KEY,
  type Api,
  CONTRACT,
  DAY,
  call,
  ledgerDigest,
  namespacePool,
  seedLots,
  startApi,
  waitFor,
} from "./helpers.ts";

const COUNT = 10_000;
const SEED = 2121;
const CONCURRENCY = 16;

let stack: TestStack;
let ns: string;
let pool: Pool;
let api: Api;
let engine: ChildProcess | undefined;
const NOW = Date.now();
const k = { read: "", redeemA: "", redeemB: "" };
let redemptionA = "";
const PRIOR_BODY = { points: 5, orderId: "hostile-o1" };
const PRIOR_IDEM = "hostile-idem-1";

beforeAll(async () => {
  stack = await requireStack();
  ns = testNamespace();
  pool = await namespacePool(stack, ns);
  api = await startApi(stack, ns, { CLOCK_MODE: "wall" });
  // The ledger's owner applies the API's redemptions (ADR 16 step 3).
  engine = await startRulesEngine(stack, ns, { CLOCK_MODE: "wall" });
  await seedLots(pool, "h1", [{ points: 100, expiresAt: NOW + 100 * DAY }]);
  await seedLots(pool, "h2", [{ points: 50, expiresAt: NOW + 100 * DAY }]);
  for (const [name, scopes] of [
    ["read", ["read"]],
    ["redeemA", ["redeem"]],
    ["redeemB", ["redeem"]],
  ] as const) {
    const r = await call(api.base, "POST", "/v1/keys", { key: ADMIN_KEY, body: { name, scopes } });
    k[name] = r.body.key;
  }
  const r = await call(api.base, "POST", "/v1/members/h1/redemptions", {
    key: k.redeemA,
    body: PRIOR_BODY,
    headers: { "idempotency-key": PRIOR_IDEM },
  });
  expect(r.status).toBe(201);
  redemptionA = r.body.redemptionId;
});

afterAll(async () => {
  if (engine) expect(await stopRulesEngine(engine)).toBe(0);
  const code = await api?.service.stop();
  await pool?.end();
  expect(code).toBe(0);
});

interface Hostile {
  category: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** The statuses this request may answer; "replay" expects the stored 201. */
  expect: readonly number[] | "replay";
}

const json = { "content-type": "application/json" };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Strings that are not JSON. */
const notJson = fc
  .oneof(
    fc.string({ maxLength: 200 }),
    fc.constantFrom(
      "{",
      '{"points":',
      "{points: 5}",
      "[1,2",
      "'a'",
      "NaN",
      '{"a":1}}',
      "\u0000",
      '{"points":5,}',
    ),
  )
  .filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  });

/** Values that are never valid points, for a redemption (1..1e9) or an adjustment (±1e9, not 0). */
const badPoints = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.double().filter((d) => !Number.isInteger(d) || d < -1e9 || d > 1e9),
  fc.integer({ max: -1_000_000_001 }),
  fc.constant(0),
  fc.integer({ min: 1_000_000_001 }),
  fc.constantFrom(null, true, false, [], {}, [5], { points: 5 }, "5", 1e300, -0),
);

const idem = fc.stringMatching(/^[A-Za-z0-9-]{1,40}$/).map((s) => `h-${s}`);
const unknownMember = fc.stringMatching(/^[a-z0-9]{1,20}$/).map((s) => `nobody-${s}`);
const anyKey = fc.constantFrom("read", "redeemA", "redeemB", "admin");
const keyOf = (name: string) => (name === "admin" ? ADMIN_KEY : k[name as keyof typeof k]);

const hostile = (): fc.Arbitrary<Hostile> =>
  fc.oneof(
    // Bad JSON on every route with a body, with a key that may use it.
    fc
      .record({
        body: notJson,
        i: idem,
        route: fc.constantFrom("redeem", "adjust", "close", "key", "expiry"),
      })
      .map(({ body, i, route }) => {
        const paths: Record<string, [string, string]> = {
          redeem: ["/v1/members/h1/redemptions", k.redeemA],
          adjust: ["/v1/members/h1/adjustments", ADMIN_KEY],
          close: ["/v1/members/h1/close", ADMIN_KEY],
          key: ["/v1/keys", ADMIN_KEY],
          expiry: [`/v1/keys/${newKey().keyId}/expiry`, ADMIN_KEY],
        };
        const [path, key] = paths[route] ?? ["/v1/keys", ADMIN_KEY];
        return {
          category: "bad JSON",
          method: "POST",
          path,
          headers: { ...bearer(key), ...json, "idempotency-key": i },
          body,
          expect: [400],
        };
      }),
    // Huge bodies (over the 16 KiB limit), valid keys or not.
    fc
      .record({
        size: fc.integer({ min: 16 * 1024 + 1, max: 256 * 1024 }),
        keyName: fc.constantFrom("redeemA", "admin", "random"),
      })
      .map(({ size, keyName }) => ({
        category: "huge body",
        method: "POST",
        path: keyName === "admin" ? "/v1/members/h1/adjustments" : "/v1/members/h1/redemptions",
        headers: {
          ...bearer(keyName === "random" ? newKey().key : keyOf(keyName)),
          ...json,
          "idempotency-key": "huge",
        },
        body: `{"points":5,"reason":"${"x".repeat(size)}"}`,
        expect: keyName === "random" ? [401] : [413],
      })),
    // Wrong types and shapes, with keys that may use the route.
    fc
      .record({
        points: badPoints,
        extra: fc.option(
          fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue(), { minKeys: 1 }),
        ),
        i: idem,
        route: fc.constantFrom("redeem", "adjust"),
      })
      .map(({ points, extra, i, route }) => ({
        category: "wrong types",
        method: "POST",
        path: route === "redeem" ? "/v1/members/h1/redemptions" : "/v1/members/h1/adjustments",
        headers: { ...bearer(route === "redeem" ? k.redeemA : ADMIN_KEY), ...json, "idempotency-key": i },
        body: JSON.stringify({
          ...(extra ?? {}),
          points,
          ...(route === "adjust" ? { reason: "why not" } : {}),
        }),
        expect: [400],
      })),
    fc
      .record({
        body: fc.oneof(
          fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
          fc.record({ reason: fc.oneof(fc.string({ maxLength: 2 }), fc.integer(), fc.constant(null)) }),
          fc.record({
            name: fc.constant("x"),
            scopes: fc.oneof(fc.constant([]), fc.array(fc.string(), { minLength: 1 })),
          }),
          fc.record({ expiresAt: fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean()) }),
        ),
        route: fc.constantFrom("close", "key", "expiry"),
      })
      .map(({ body, route }) => ({
        category: "wrong types",
        method: "POST",
        path:
          route === "close"
            ? "/v1/members/h2/close"
            : route === "key"
              ? "/v1/keys"
              : `/v1/keys/${newKey().keyId}/expiry`,
        headers: { ...bearer(ADMIN_KEY), ...json },
        body: JSON.stringify(body),
        expect: [400],
      })),
    // Path tricks: dot segments, encodings, doubled or trailing slashes, case, NUL, over-long ids.
    fc
      .record({
        path: fc.oneof(
          fc.constantFrom(
            "/v1/members/../keys",
            "/v1/members/%2e%2e/keys",
            "/v1/members/h1/../../keys",
            "/v1/members/h1%2F..%2Fh2",
            "/v1/members/h1%2Fledger",
            "/v1//members/h1",
            "/v1/members/h1/",
            "/V1/members/h1",
            "/v1/members/%00",
            "/v1/members/h1%00",
            "/v1/members/%252e%252e",
            "/v1/members/h1;h2",
            "/v1/members/h1%20",
            "/v1/members/%E2%80%AEh1",
            "/v1/members/h1/ledger?limit=0",
            "/v1/members/h1/ledger?limit=501",
            "/v1/members/h1/ledger?before=-1",
            "/v1/members/h1/ledger?before=1e3",
            "/v1/members/h1/ledger?limit=10&bogus=1",
            "/v1/members/h1/redemptions/rdm-0/cancel",
            "/v1/churn/calibration?calibrationEnd=1997-02-30&holdoutEnd=1998-01-01",
            "/v1/keys/..%2F..%2Fv1%2Fkeys/revoke",
            "/v1/keys/ENV-ADMIN/revoke",
            "/openapi.json/../v1/keys",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/v1/members/h1/ledger/..",
          ),
          fc
            .string({ unit: "binary", minLength: 1, maxLength: 40 })
            .map((s) => `/v1/members/${encodeURIComponent(`~${s}`)}`),
          fc.integer({ min: 129, max: 4000 }).map((n) => `/v1/members/${"a".repeat(n)}`),
        ),
        keyName: anyKey,
      })
      .map(({ path, keyName }) => ({
        category: "path tricks",
        method: path.includes("/revoke") || path.includes("/cancel") ? "POST" : "GET",
        path,
        headers: bearer(keyOf(keyName)),
        expect: [400, 403, 404],
      })),
    // Other members' ids and other keys' redemptions.
    fc
      .record({ member: fc.oneof(fc.constant("h2"), unknownMember), i: idem, which: fc.nat(3) })
      .map(({ member, i, which }) => {
        const base = {
          category: "other members' ids",
          headers: bearer(k.redeemB),
          method: "POST",
        };
        if (which === 0)
          return {
            ...base,
            path: `/v1/members/${member}/redemptions/${redemptionA}/cancel`,
            headers: bearer(k.redeemA),
            expect: [404],
          };
        if (which === 1)
          return { ...base, path: `/v1/members/h1/redemptions/${redemptionA}/cancel`, expect: [403] };
        if (which === 2)
          return {
            ...base,
            path: `/v1/members/${member}/redemptions`,
            headers: { ...bearer(k.redeemB), ...json, "idempotency-key": i },
            // More than either member holds: refused after the whole write path ran.
            body: JSON.stringify({ points: 1_000_000 }),
            expect: member === "h2" ? [422] : [404],
          };
        return {
          ...base,
          method: "GET",
          path: `/v1/members/${member}/ledger`,
          headers: bearer(k.read),
          expect: member === "h2" ? [200] : [404],
        };
      })
      .filter((h) => h.expect[0] !== 200),
    // Replayed idempotency keys: the same body answers the stored 201; another body is 409.
    fc
      .record({ same: fc.boolean(), points: fc.integer({ min: 1, max: 1_000_000 }) })
      .map(({ same, points }) => ({
        category: "replayed idempotency keys",
        method: "POST",
        path: "/v1/members/h1/redemptions",
        headers: { ...bearer(k.redeemA), ...json, "idempotency-key": PRIOR_IDEM },
        body: JSON.stringify(same ? PRIOR_BODY : { points: points === 5 ? 6 : points }),
        expect: same ? ("replay" as const) : [409],
      })),
    // Random keys and Authorization headers, on every authenticated route.
    fc
      .record({
        auth: fc.oneof(
          fc.constant(undefined),
          fc.string({ maxLength: 100 }).map((s) => s.replace(/[^\x20-\x7e]/g, "x")),
          fc.constant(null).map(() => `Bearer ${newKey().key}`),
          fc.stringMatching(/^[A-Za-z0-9_-]{1,80}$/).map((s) => `Bearer ${s}`),
          fc.constant(null).map(() => `Bearer ${k.redeemA.slice(0, -2)}zz`),
          fc.constant(null).map(() => `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString("base64")}`),
          fc.constant(`Bearer ${ADMIN_KEY}x`),
          fc.constant(`bearer  ${ADMIN_KEY.slice(1)}`),
        ),
        route: fc.constantFrom(
          ["GET", "/v1/members/h1"],
          ["GET", "/v1/members/h1/ledger"],
          ["POST", "/v1/members/h1/redemptions"],
          ["POST", "/v1/members/h1/adjustments"],
          ["POST", "/v1/keys"],
          ["GET", "/v1/keys"],
        ),
      })
      .map(({ auth, route }) => ({
        category: "random keys",
        method: route[0],
        path: route[1],
        headers: { ...(auth === undefined ? {} : { authorization: auth }), ...json, "idempotency-key": "rk" },
        body:
          route[0] === "POST"
            ? JSON.stringify({ points: 5, reason: "free points", name: "x", scopes: ["admin"] })
            : undefined,
        expect: [401],
      })),
    // Keys without the route's scope.
    fc
      .constantFrom(
        ["read", "POST", "/v1/members/h1/redemptions"],
        ["redeemA", "POST", "/v1/members/h1/adjustments"],
        ["redeemB", "POST", "/v1/members/h1/close"],
        ["read", "POST", "/v1/keys"],
        ["redeemA", "GET", "/v1/keys"],
        ["redeemB", "POST", `/v1/keys/${"0".repeat(16)}/revoke`],
      )
      .map(([keyName, method, path]) => ({
        category: "wrong scope",
        method,
        path,
        headers: { ...bearer(keyOf(keyName)), ...json, "idempotency-key": "scope" },
        body: JSON.stringify({ points: 5, reason: "free points", name: "x", scopes: ["admin"] }),
        expect: [403],
      })),
    // Wrong media types and methods.
    fc
      .record({
        type: fc.constantFrom(
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/xml",
        ),
        i: idem,
      })
      .map(({ type, i }) => ({
        category: "media types and methods",
        method: "POST",
        path: "/v1/members/h1/redemptions",
        headers: { ...bearer(k.redeemA), "content-type": type, "idempotency-key": i },
        body: "points=5",
        expect: [415],
      })),
    fc
      .record({
        method: fc.constantFrom("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"),
        path: fc.constantFrom("/v1/members/h1", "/v1/keys", "/v1/members/h1/redemptions", "/openapi.json"),
      })
      .map(({ method, path }) => ({
        category: "media types and methods",
        method,
        path,
        headers: bearer(ADMIN_KEY),
        expect: [404],
      })),
  );

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function send(agent: Agent, base: URL, h: Hostile): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: h.method,
        path: h.path,
        headers: {
          ...h.headers,
          ...(h.body !== undefined ? { "content-length": String(Buffer.byteLength(h.body)) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    // A server answering before it read a huge body may close the socket under the rest of it:
    // the answer counts, the broken write does not.
    req.on("error", reject);
    req.end(h.body);
  });
}

async function apiState(p: Pool) {
  const count = async (table: string) =>
    Number((await p.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]?.n ?? -1);
  return {
    ledger: (await ledgerDigest(p)).digest,
    redemptions: await count("api_redemptions"),
    cancelled: await count("api_redemptions where cancel_entry_id is not null"),
    requests: await count("api_requests"),
    keys: await count("api_keys"),
    keysRevokedOrExpiring: await count("api_keys where revoked_at is not null or expires_at is not null"),
    closed: await count("api_member_status"),
  };
}

describe("hostile HTTP", () => {
  it(`${COUNT.toLocaleString("en")} generated hostile requests: 0 crashes, 0 ledger changes, every refusal a specific 4xx`, async () => {
    const requests = fc.sample(hostile(), { numRuns: COUNT, seed: SEED });
    expect(requests.length).toBe(COUNT);
    const before = await apiState(pool);

    const base = new URL(api.base);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const byCategory = new Map<string, Map<string, number>>();
    const failures: string[] = [];
    let crashes = 0;
    let transportErrors = 0;
    let contractViolations = 0;
    let next = 0;
    const t0 = Date.now();
    const worker = async () => {
      for (;;) {
        const i = next++;
        const h = requests[i];
        if (h === undefined) return;
        let a: Answer;
        try {
          a = await send(agent, base, h);
        } catch (err) {
          transportErrors++;
          failures.push(`${h.category}: ${h.method} ${h.path.slice(0, 80)}: ${(err as Error).message}`);
          continue;
        }
        const counts = byCategory.get(h.category) ?? new Map<string, number>();
        byCategory.set(h.category, counts);
        let code = "";
        try {
          code = a.text ? (JSON.parse(a.text)?.error?.code ?? "") : "";
        } catch {
          code = "(not JSON)";
        }
        counts.set(`${a.status} ${code}`.trim(), (counts.get(`${a.status} ${code}`.trim()) ?? 0) + 1);
        if (a.status >= 500) crashes++;
        const problems = CONTRACT.check({
          method: h.method,
          path: h.path,
          status: a.status,
          headers: new Headers(
            Object.entries(a.headers).flatMap(([n, v]) =>
              v === undefined ? [] : [[n, Array.isArray(v) ? v.join(", ") : v] as [string, string]],
            ),
          ),
          text: a.text,
        });
        if (problems.length > 0) contractViolations++;
        const ok =
          h.expect === "replay"
            ? a.status === 201 && a.headers["idempotent-replayed"] === "true"
            : h.expect.includes(a.status) &&
              code in ERROR_CODES &&
              ERROR_CODES[code as keyof typeof ERROR_CODES] === a.status;
        if (!ok || problems.length > 0)
          failures.push(
            `${h.category}: ${h.method} ${h.path.slice(0, 80)} → ${a.status} ${a.text.slice(0, 160)} (expected ${JSON.stringify(h.expect)}) ${problems.join("; ")}`,
          );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (Date.now() - t0) / 1000;
    agent.destroy();

    const live = await call(api.base, "GET", "/livez");
    const after = await apiState(pool);
    const lines = [...byCategory.entries()].map(
      ([c, m]) =>
        `  ${c.padEnd(26)} ${[...m.values()]
          .reduce((s, n) => s + n, 0)
          .toString()
          .padStart(5)}  ${[...m.entries()]
          .sort()
          .map(([s, n]) => `${s}: ${n}`)
          .join(", ")}`,
    );
    console.log(
      [
        `hostile HTTP: ${COUNT} requests (seed ${SEED}) in ${seconds.toFixed(1)} s, ${CONCURRENCY} connections`,
        ...lines,
        `  crashes (5xx): ${crashes}, transport errors: ${transportErrors}, contract violations: ${contractViolations}, unexpected answers: ${failures.length}`,
        `  ledger digest before ${before.ledger.slice(0, 16)}, after ${after.ledger.slice(0, 16)}; server alive: ${live.status === 200 && api.service.child.exitCode === null}`,
      ].join("\n"),
    );
    const kinds = new Map<string, number>();
    for (const f of failures) {
      const kind = f.replace(/"message":"[^"]*"/, "").slice(0, 200);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    expect([...kinds.entries()].slice(0, 20)).toEqual([]);
    expect(crashes).toBe(0);
    expect(transportErrors).toBe(0);
    expect(contractViolations).toBe(0);
    expect(live.status).toBe(200);
    expect(api.service.child.exitCode).toBeNull();
    expect(after).toEqual(before);
    expect(seconds).toBeLessThan(60);
  });
});

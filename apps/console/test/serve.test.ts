// The console's server without a browser: files from dist, the app's routes as index.html, no
// way out of dist, /v1/* forwarded to the API with the key and the API's status and body, 502
// when the API does not answer, and the CSP on every answer.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { type IncomingMessage, type Server, createServer } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConsoleServer, startConsoleServer } from "../server/serve.ts";

let dist: string;
let api: Server;
let seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];
let ui: ConsoleServer;
let down: ConsoleServer;

const listen = (s: Server) =>
  new Promise<number>((ok) =>
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      ok(typeof a === "object" && a ? a.port : 0);
    }),
  );

async function bodyOf(req: IncomingMessage): Promise<string> {
  let out = "";
  for await (const c of req) out += String(c);
  return out;
}

beforeAll(async () => {
  dist = mkdtempSync(join(tmpdir(), "console-dist-"));
  mkdirSync(join(dist, "assets"));
  writeFileSync(join(dist, "index.html"), "<!doctype html><div id=app></div>");
  writeFileSync(join(dist, "assets", "app.js"), "console.log(1)");
  writeFileSync(join(tmpdir(), "console-secret.txt"), "outside dist");
  // A sibling whose name starts with dist's: a prefix check without the separator would let it out.
  mkdirSync(`${dist}-evil`, { recursive: true });
  writeFileSync(join(`${dist}-evil`, "x.js"), "outside dist");
  api = createServer(async (req, res) => {
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      auth: req.headers.authorization,
      body: await bodyOf(req),
    });
    res.writeHead(req.url === "/v1/limited" ? 429 : 200, {
      "content-type": "application/json",
      ...(req.url === "/v1/limited" ? { "retry-after": "3" } : {}),
      "set-cookie": "never=forwarded",
    });
    res.end(JSON.stringify({ ok: true, url: req.url }));
  });
  const apiPort = await listen(api);
  ui = await startConsoleServer({ port: 0, host: "127.0.0.1", apiUrl: `http://127.0.0.1:${apiPort}`, dist });
  const closed = createServer();
  const deadPort = await listen(closed);
  await new Promise<void>((ok) => closed.close(() => ok()));
  down = await startConsoleServer({
    port: 0,
    host: "127.0.0.1",
    apiUrl: `http://127.0.0.1:${deadPort}`,
    dist,
  });
});

afterAll(async () => {
  await ui?.close();
  await down?.close();
  await new Promise<void>((ok) => api.close(() => ok()));
});

describe("the console server", () => {
  it("serves assets, and index.html for the app's routes, with the CSP", async () => {
    const js = await fetch(`${ui.url}/assets/app.js`);
    expect([js.status, js.headers.get("content-type"), await js.text()]).toEqual([
      200,
      "text/javascript; charset=utf-8",
      "console.log(1)",
    ]);
    const route = await fetch(`${ui.url}/members/c-1`);
    expect(await route.text()).toContain("<div id=app>");
    expect(route.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(route.headers.get("content-security-policy")).not.toContain("unsafe-eval");
    expect((await fetch(`${ui.url}/assets/missing.js`)).status).toBe(404);
  });

  it("never serves a file outside dist", async () => {
    const sibling = `/..%2f${basename(dist)}-evil%2fx.js`;
    for (const path of [
      sibling,
      "/../console-secret.txt",
      "/%2e%2e/console-secret.txt",
      "/assets/..%2f..%2fconsole-secret.txt",
    ]) {
      const r = await fetch(`${ui.url}${path}`);
      expect(await r.text(), path).not.toContain("outside dist");
    }
  });

  it("forwards /v1/* with the key and the body, and answers the API's status, body and Retry-After only", async () => {
    seen = [];
    const r = await fetch(`${ui.url}/v1/rulesets/drafts?x=1`, {
      method: "POST",
      headers: { authorization: "Bearer lk_k", "content-type": "application/json", cookie: "c=1" },
      body: JSON.stringify({ ruleSet: {} }),
    });
    expect(await r.json()).toEqual({ ok: true, url: "/v1/rulesets/drafts?x=1" });
    expect(r.headers.get("set-cookie")).toBeNull();
    expect(seen).toEqual([
      { method: "POST", url: "/v1/rulesets/drafts?x=1", auth: "Bearer lk_k", body: '{"ruleSet":{}}' },
    ]);
    const limited = await fetch(`${ui.url}/v1/limited`);
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "3"]);
  });

  it("answers 502 UNAVAILABLE when the API does not answer, and 405 to other methods on files", async () => {
    const r = await fetch(`${down.url}/v1/session`);
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("UNAVAILABLE");
    expect((await fetch(`${ui.url}/index.html`, { method: "POST" })).status).toBe(405);
  });
});

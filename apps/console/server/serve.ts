// The console's own small server (ADR 18): serves the built app (dist/) and forwards /v1/* and
// /openapi.json to the member API, so the browser talks to one origin (no CORS on the API) and the
// API keeps serving only JSON. It holds no key (its only state is the backtest history it follows,
// server/history-follower.ts): the browser sends the key it was
// given with every request, and the API authenticates it as it does any client.
// It also runs the console's own actions under /console/* (server/backtest.ts: a backtest of a
// draft over the history topics), each authenticated by asking the API who the caller's key is.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { type ProgrammeFile, STANDARD_RULES_DIR, readRuleSetSource } from "@loyalty/rules-engine";
import {
  type BacktestConfig,
  ConsoleActionError,
  callerOf,
  isMarketer,
  runBacktest,
  validDraft,
  warmBacktest,
} from "./backtest.ts";
import { type PublishConfig, publishDraft } from "./publish.ts";
import { orderRequestOf, simulateOrder } from "./simulate.ts";

export interface ConsoleServerOptions {
  port: number;
  host: string;
  /** The member API's base URL, e.g. http://127.0.0.1:8080. */
  apiUrl: string;
  /** The built app (vite build): apps/console/dist. */
  dist: string;
  /** Backtests (POST /console/backtest); without it they answer 503 NOT_CONFIGURED. */
  backtest?: BacktestConfig | null;
  /** Publishing (POST /console/drafts/{id}/publish); without it 503 NOT_CONFIGURED, no button. */
  publish?: PublishConfig | null;
  /** The programme simulations price with (currency, time zone); default rules/standard's. */
  programme?: ProgrammeFile;
}

export interface ConsoleServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export const DIST = new URL("../dist/", import.meta.url).pathname;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** The app runs no inline script and no eval (the validator is compiled at build time). */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

// idempotency-key: the admin adjustment (a ledger command) is idempotent on it.
const FORWARDED_REQUEST_HEADERS = [
  "authorization",
  "content-type",
  "accept",
  "x-request-id",
  "idempotency-key",
];
const FORWARDED_RESPONSE_HEADERS = ["content-type", "retry-after", "idempotent-replayed"];
const MAX_BODY = 2 * 1024 * 1024;

export class ConsoleServerError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
  ) {
    super(message);
    this.name = "ConsoleServerError";
  }
}

/** Whether a request goes to the API rather than to the app's files. */
export const isApiPath = (path: string) => path.startsWith("/v1/") || path === "/openapi.json";

/** The console server's own actions (not forwarded). */
export const isActionPath = (path: string) => path.startsWith("/console/");

function answerJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    ...SECURITY_HEADERS,
  });
  res.end(JSON.stringify(body));
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readBody(req);
  try {
    return JSON.parse(raw?.toString("utf8") ?? "null");
  } catch {
    throw new ConsoleActionError(400, "VALIDATION_FAILED", "the body is not JSON", false);
  }
}

let standard: ProgrammeFile | null = null;
const standardProgramme = (): ProgrammeFile => {
  standard ??= readRuleSetSource(STANDARD_RULES_DIR()).programme;
  return standard;
};

/** POST /console/simulate {draft, order, member}: one order priced by the draft, rule by rule. */
function simulate(body: unknown, programme: ProgrammeFile) {
  const b = (body ?? {}) as { draft?: unknown };
  const ruleSet = validDraft(b.draft, programme);
  const input = orderRequestOf(body);
  if (!input.ok)
    throw new ConsoleActionError(400, "VALIDATION_FAILED", `${input.field}: ${input.message}`, false);
  try {
    return simulateOrder(ruleSet, programme, input.order, input.member);
  } catch (err) {
    // An order the facts builder refuses (a foreign currency without its base amount).
    throw new ConsoleActionError(400, "VALIDATION_FAILED", (err as Error).message, false);
  }
}

async function action(req: IncomingMessage, res: ServerResponse, o: ConsoleServerOptions): Promise<void> {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  try {
    if (path === "/console/config") {
      // What this server can do, so the app shows only the buttons that work. No secret in it.
      if (req.method !== "GET") throw new ConsoleActionError(405, "METHOD_NOT_ALLOWED", "GET only", false);
      answerJson(res, 200, {
        backtest: Boolean(o.backtest),
        publish: o.publish ? { review: o.publish.review, signingKey: o.publish.signingKeyFrom } : null,
      });
      return;
    }
    const publishMatch = /^\/console\/drafts\/(drf-[0-9a-f-]{36})\/publish$/.exec(path);
    if (path !== "/console/backtest" && path !== "/console/simulate" && publishMatch === null)
      throw new ConsoleActionError(404, "NOT_FOUND", `no console action ${path}`, false);
    if (req.method !== "POST") throw new ConsoleActionError(405, "METHOD_NOT_ALLOWED", "POST only", false);
    const authorization = req.headers.authorization;
    const caller = await callerOf(o.apiUrl, authorization);
    if (path === "/console/simulate") {
      // Any signed-in key: it reads nothing and writes nothing.
      // The programme of CONSOLE_PROGRAMME_DIR, as backtests and publishing read it.
      const programme = o.programme ?? o.backtest?.programme ?? o.publish?.programme ?? standardProgramme();
      answerJson(res, 200, simulate(await jsonBody(req), programme));
      return;
    }
    if (!isMarketer(caller.scopes))
      throw new ConsoleActionError(
        403,
        "SCOPE_FORBIDDEN",
        `${publishMatch ? "publishing" : "backtests"} need a marketer or admin key`,
        false,
      );
    if (publishMatch !== null) {
      if (!o.publish)
        throw new ConsoleActionError(
          503,
          "NOT_CONFIGURED",
          "publishing needs the publisher's credentials and a signing key in the console server's environment",
          false,
        );
      answerJson(
        res,
        201,
        await publishDraft(o.publish, o.apiUrl, authorization ?? "", publishMatch[1] ?? "", caller.keyId),
      );
      return;
    }
    if (!o.backtest)
      throw new ConsoleActionError(
        503,
        "NOT_CONFIGURED",
        "backtests need KAFKA_BROKERS and SCHEMA_REGISTRY_URL in the console server's environment",
        false,
      );
    answerJson(res, 200, await runBacktest(o.backtest, o.apiUrl, authorization ?? "", await jsonBody(req)));
  } catch (err) {
    if (err instanceof ConsoleActionError)
      answerJson(res, err.status, {
        error: { code: err.code, message: err.message, ...(err.details ? { errors: err.details } : {}) },
      });
    else if (err instanceof ConsoleServerError)
      answerJson(res, 413, { error: { code: "PAYLOAD_TOO_LARGE", message: err.message } });
    else throw err;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  if (req.method === "GET" || req.method === "HEAD") return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ConsoleServerError("request body too large", false);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

async function forward(req: IncomingMessage, res: ServerResponse, apiUrl: string): Promise<void> {
  const headers: Record<string, string> = {};
  for (const h of FORWARDED_REQUEST_HEADERS) {
    const v = req.headers[h];
    if (typeof v === "string") headers[h] = v;
  }
  let answer: Response;
  try {
    const body = await readBody(req);
    answer = await fetch(new URL(req.url ?? "/", apiUrl), {
      method: req.method ?? "GET",
      headers,
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const tooLarge = err instanceof ConsoleServerError;
    res.writeHead(tooLarge ? 413 : 502, { "content-type": "application/json", ...SECURITY_HEADERS });
    res.end(
      JSON.stringify({
        error: {
          code: tooLarge ? "PAYLOAD_TOO_LARGE" : "UNAVAILABLE",
          message: tooLarge ? "request body too large" : `the member API at ${apiUrl} did not answer`,
        },
      }),
    );
    return;
  }
  const out: Record<string, string> = { ...SECURITY_HEADERS, "cache-control": "no-store" };
  for (const h of FORWARDED_RESPONSE_HEADERS) {
    const v = answer.headers.get(h);
    if (v !== null) out[h] = v;
  }
  res.writeHead(answer.status, out);
  res.end(Buffer.from(await answer.arrayBuffer()));
}

async function serveFile(req: IncomingMessage, res: ServerResponse, dist: string): Promise<void> {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
  const root = resolve(dist);
  const wanted = normalize(join(root, path));
  let file = wanted.startsWith(root + sep) && extname(wanted) !== "" ? wanted : join(root, "index.html");
  const found = await stat(file).catch(() => null);
  if (!found?.isFile()) {
    // Unknown asset: 404; any other path is a route of the app (index.html).
    if (extname(wanted) !== "") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS });
      res.end("not found");
      return;
    }
    file = join(root, "index.html");
  }
  const exists = await stat(file).catch(() => null);
  if (!exists?.isFile()) {
    res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
    res.end(`the console is not built: run pnpm --filter @loyalty/console build (no ${file})`);
    return;
  }
  res.writeHead(200, {
    "content-type": TYPES[extname(file)] ?? "application/octet-stream",
    "cache-control": file.includes("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    ...SECURITY_HEADERS,
  });
  createReadStream(file).pipe(res);
}

export async function startConsoleServer(o: ConsoleServerOptions): Promise<ConsoleServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const work = isApiPath(path)
      ? forward(req, res, o.apiUrl)
      : isActionPath(path)
        ? action(req, res, o)
        : req.method === "GET" || req.method === "HEAD"
          ? serveFile(req, res, o.dist)
          : Promise.resolve(res.writeHead(405, { allow: "GET, HEAD" }).end());
    work.catch(() => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(o.port, o.host, () => ok());
  });
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : o.port;
  // Backtests follow the history from now on, and the first one is warmed (server/backtest.ts).
  const warming = o.backtest?.warmUp ? warmBacktest(o.backtest).catch(() => undefined) : Promise.resolve();
  return {
    url: `http://${o.host}:${port}`,
    server,
    close: async () => {
      await new Promise<void>((ok) => server.close(() => ok()));
      await o.backtest?.history.close?.();
      await warming;
    },
  };
}

export { backtestConfigFromEnv } from "./backtest.ts";
export { publishConfigFromEnv } from "./publish.ts";

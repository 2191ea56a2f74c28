// The console server's backtest (ADR 18): POST /console/backtest prices a draft beside the
// running rule set over a window of the history on the topics, with the rules engine's backtest
// library, the history `loyalty rules backtest --from-topic` reads (readTopicHistory: the same
// topics, ends and decoding, kept in memory here by a follower, server/history-follower.ts) and
// the same two-thread run (backtestParallel), so both give the same numbers for the same draft.
//
// It runs here, not in the member API: the API must not read the rules engine's tables nor
// import its store, and a backtest of a year is seconds of CPU that a request-serving process
// should not spend. The caller is authenticated by the API (GET /v1/session with the caller's
// key) and must hold `marketer` or `admin`. History is read as the `backtest` principal (read
// only, purchases and member changes: schemas/asyncapi.yaml); the running set is the newest
// version of the draft's id as the API's read model has it (GET /v1/rulesets, with the caller's
// key); the programme (currency, cost per point) is programme.json of CONSOLE_PROGRAMME_DIR.
import { AvroCodec, type Topics, namespacedTopics, registryAuth } from "@loyalty/contracts";
import { withStackCredentials } from "@loyalty/local-stack";
import {
  BacktestError,
  type BacktestReport,
  type ProgrammeFile,
  type RuleSet,
  STANDARD_RULES_DIR,
  type TopicHistory,
  backtestParallel,
  readRuleSetSource,
  validateRuleSet,
} from "@loyalty/rules-engine";
import { kafkaSecurity } from "@loyalty/stream-runtime";
import { Kafka, logLevel } from "kafkajs";
import { HistoryFollower } from "./history-follower.ts";

/** A console action that failed: the HTTP status and code it answers with. */
export class ConsoleActionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retriable: boolean,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ConsoleActionError";
  }
}

/** A draft from a request, checked by the engine's validator: 422 RULESET_INVALID with every problem. */
export function validDraft(draft: unknown, programme: ProgrammeFile): RuleSet {
  const checked = validateRuleSet(draft, programme);
  if (!checked.ok)
    throw new ConsoleActionError(
      422,
      "RULESET_INVALID",
      "the draft is not a valid rule set",
      false,
      checked.errors,
    );
  return checked.ruleSet;
}

export interface HistoryReader {
  /** Purchases and member changes with event time before `to`. */
  read(to: number): Promise<TopicHistory>;
  /** Stops following (the server's close). */
  close?(): Promise<void>;
}

export interface BacktestConfig {
  history: HistoryReader;
  programme: ProgrammeFile;
  /** Where the programme came from, for the report. */
  programmeFrom: string;
  /** Warm the backtest path when the server starts (warmBacktest); the environment's config does. */
  warmUp?: boolean;
}

/**
 * From the environment the services use: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, LOYALTY_NAMESPACE,
 * and the `backtest` principal's credentials (KAFKA_SASL_* / SCHEMA_REGISTRY_*; on the local
 * stack from its credentials file). Null when KAFKA_BROKERS or SCHEMA_REGISTRY_URL is not set:
 * the console then answers backtests 503.
 */
export function backtestConfigFromEnv(env: NodeJS.ProcessEnv): BacktestConfig | null {
  const brokers = (env.KAFKA_BROKERS ?? "")
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  const registry = env.SCHEMA_REGISTRY_URL ?? "";
  if (brokers.length === 0 || registry === "") return null;
  const asBacktest = withStackCredentials(env, "backtest");
  const { sasl, ssl } = kafkaSecurity(asBacktest);
  const topics: Topics = namespacedTopics(env.LOYALTY_NAMESPACE ?? "");
  const codec = new AvroCodec(registry, registryAuth(asBacktest));
  const programmeDir = env.CONSOLE_PROGRAMME_DIR ?? STANDARD_RULES_DIR();
  return {
    programme: readRuleSetSource(programmeDir).programme,
    programmeFrom: `${programmeDir}/programme.json`,
    warmUp: true,
    history: new HistoryFollower(
      new Kafka({
        clientId: "loyalty-console-backtest",
        brokers,
        logLevel: logLevel.NOTHING,
        retry: { initialRetryTime: 100, retries: 5 },
        ...(sasl === undefined ? {} : { sasl }),
        ...(ssl === undefined ? {} : { ssl }),
      }),
      codec,
      topics,
    ),
  };
}

/** Purchases a warm-up backtest prices: enough for the JIT, little next to a year. */
const WARM_UP_PURCHASES = 2_000;

/**
 * Warms the backtest path at the server's start, so the first click is not cold: follows the
 * history to its ends (the join and the first decode), then prices the standard set against
 * itself over the first purchases, which starts the draft worker (kept WORKER_IDLE_MS for the
 * next backtest) and compiles the pricing code on both threads. Best effort: a failure here is
 * the first backtest's to report.
 */
export async function warmBacktest(config: BacktestConfig): Promise<void> {
  const history = await config.history.read(Number.MAX_SAFE_INTEGER);
  const standard = validateRuleSet(readRuleSetSource(STANDARD_RULES_DIR()).json, config.programme);
  if (!standard.ok) return;
  const purchases = history.purchases.slice(0, WARM_UP_PURCHASES);
  const times = purchases.map((p) => p.eventTime);
  if (times.length === 0) return;
  const from = Math.min(...times);
  await backtestParallel({
    running: standard.ruleSet,
    draft: standard.ruleSet,
    programme: config.programme,
    purchases,
    memberEvents: history.memberEvents,
    from,
    to: Math.max(...times) + 1,
  });
}

interface SessionAnswer {
  keyId: string;
  scopes: string[];
}

/** Who the caller is, as the API says; a key the API refuses gets the API's own answer. */
export async function callerOf(
  apiUrl: string,
  authorization: string | undefined,
  fetchFn: typeof fetch = fetch,
): Promise<SessionAnswer> {
  if (authorization === undefined)
    throw new ConsoleActionError(
      401,
      "UNAUTHENTICATED",
      "an API key is required (Authorization: Bearer)",
      false,
    );
  let res: Response;
  try {
    res = await fetchFn(new URL("/v1/session", apiUrl), {
      headers: { authorization },
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new ConsoleActionError(502, "UNAVAILABLE", `the member API at ${apiUrl} did not answer`, true);
  }
  const body = (await res.json().catch(() => null)) as
    | (Partial<SessionAnswer> & { error?: { code?: string; message?: string } })
    | null;
  if (!res.ok || body === null || typeof body.keyId !== "string" || !Array.isArray(body.scopes))
    throw res.ok
      ? new ConsoleActionError(
          502,
          "UNAVAILABLE",
          "the member API's /v1/session answer has no keyId and scopes",
          true,
        )
      : new ConsoleActionError(
          res.status,
          body?.error?.code ?? `HTTP_${res.status}`,
          body?.error?.message ?? `the member API answered ${res.status}`,
          res.status >= 500 || res.status === 429,
        );
  return { keyId: body.keyId, scopes: body.scopes.filter((s): s is string => typeof s === "string") };
}

/** Whether a key's scopes allow the console's write-side actions (backtest, review, publish). */
export const isMarketer = (scopes: readonly string[]) =>
  scopes.includes("marketer") || scopes.includes("admin");

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function parseDay(v: unknown, field: string): number {
  const t = typeof v === "string" && DAY_PATTERN.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN;
  if (!Number.isFinite(t))
    throw new ConsoleActionError(400, "VALIDATION_FAILED", `${field} must be a date YYYY-MM-DD (UTC)`, false);
  return t;
}

/** The newest version of `id` the API's read model holds, as a validated rule set; null if none. */
async function runningOf(
  apiUrl: string,
  authorization: string,
  id: string,
  programme: ProgrammeFile,
  fetchFn: typeof fetch,
): Promise<RuleSet | null> {
  const get = async (path: string) => {
    const r = await fetchFn(new URL(path, apiUrl), { headers: { authorization } }).catch(() => null);
    if (r === null || !r.ok)
      throw new ConsoleActionError(502, "UNAVAILABLE", `the member API did not answer ${path}`, true);
    return (await r.json()) as unknown;
  };
  const list = (await get("/v1/rulesets")) as {
    ruleSets: { ruleSetId: string; versions: { version: number }[] }[];
  };
  const versions = list.ruleSets.find((s) => s.ruleSetId === id)?.versions ?? [];
  const newest = Math.max(...versions.map((v) => v.version), 0);
  if (newest === 0) return null;
  const v = (await get(`/v1/rulesets/${encodeURIComponent(id)}/versions/${newest}`)) as { ruleSet: unknown };
  const checked = validateRuleSet(v.ruleSet, programme);
  if (!checked.ok)
    throw new ConsoleActionError(
      409,
      "RUNNING_SET_INVALID",
      `${id} v${newest} as published is not a valid rule set for this engine`,
      false,
    );
  return checked.ruleSet;
}

export interface BacktestAnswer {
  report: BacktestReport;
  runningFrom: string;
  programmeFrom: string;
  /** The programme's currency exponent, to show liability in major units. */
  currencyExponent: number;
  history: { topics: Record<string, number>; purchases: number; memberEvents: number; skipped: number };
  seconds: number;
}

/** POST /console/backtest {draft, from, to}: see the file's header. */
export async function runBacktest(
  config: BacktestConfig,
  apiUrl: string,
  authorization: string,
  body: unknown,
  fetchFn: typeof fetch = fetch,
): Promise<BacktestAnswer> {
  const b = (body ?? {}) as { draft?: unknown; from?: unknown; to?: unknown };
  const from = parseDay(b.from, "from");
  const to = parseDay(b.to, "to");
  if (from >= to) throw new ConsoleActionError(400, "VALIDATION_FAILED", "from must be before to", false);
  const draft = validDraft(b.draft, config.programme);
  const published = await runningOf(apiUrl, authorization, draft.id, config.programme, fetchFn);
  let running: RuleSet;
  let runningFrom: string;
  if (published === null) {
    const standard = validateRuleSet(readRuleSetSource(STANDARD_RULES_DIR()).json, config.programme);
    if (!standard.ok)
      throw new ConsoleActionError(500, "INTERNAL", "rules/standard does not validate", false);
    running = standard.ruleSet;
    runningFrom = `rules/standard (nothing published as ${draft.id})`;
  } else {
    running = published;
    runningFrom = `published v${published.version}`;
  }
  const started = process.hrtime.bigint();
  let history: TopicHistory;
  try {
    history = await config.history.read(to);
  } catch (err) {
    throw new ConsoleActionError(
      503,
      "UNAVAILABLE",
      `the history topics could not be read: ${(err as Error).message}`,
      true,
    );
  }
  try {
    const { report } = await backtestParallel({
      running,
      draft,
      programme: config.programme,
      purchases: history.purchases,
      memberEvents: history.memberEvents,
      from,
      to,
    });
    return {
      report,
      runningFrom,
      programmeFrom: config.programmeFrom,
      currencyExponent: config.programme.currencyExponent,
      history: {
        topics: history.records,
        purchases: history.purchases.length,
        memberEvents: history.memberEvents.length,
        skipped: history.skipped,
      },
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
  } catch (err) {
    if (err instanceof BacktestError)
      throw new ConsoleActionError(422, "BACKTEST_FAILED", err.message, false);
    throw err;
  }
}

// The command lines the demo prints for what to try next. Each is complete: the variables that
// select this engine (namespace, endpoints) are part of it whenever they differ from the defaults,
// so it works exactly as printed from the repository root in a fresh shell.
import { DEFAULT_ENDPOINTS, REPO_ROOT } from "@loyalty/local-stack";

/** Single-quoted for sh when it holds anything beyond a safe set of characters. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const DEFAULTS: Record<string, string> = {
  LOYALTY_NAMESPACE: "",
  DATABASE_URL: DEFAULT_ENDPOINTS.databaseUrl,
  KAFKA_BROKERS: DEFAULT_ENDPOINTS.kafkaBrokers.join(","),
  SCHEMA_REGISTRY_URL: DEFAULT_ENDPOINTS.schemaRegistryUrl,
  REDIS_URL: DEFAULT_ENDPOINTS.redisUrl,
  // The stack's credentials (and CA, with LOYALTY_KAFKA_TLS) are found through it.
  LOYALTY_STACK_DIR: `${REPO_ROOT}/.stack`,
};

/** `NAME=value ` for each variable that selects this engine and is not at its default. */
export function envPrefix(env: NodeJS.ProcessEnv): string {
  return Object.entries(DEFAULTS)
    .filter(([k, d]) => env[k] !== undefined && env[k] !== d)
    .map(([k]) => `${k}=${shellQuote(env[k] ?? "")} `)
    .join("");
}

export interface Hints {
  memberShow: string | null;
  tiersStats: string;
  ledgerVerify: string;
  churnReport: string;
  /** Sends one live order through the engine (only while it runs: `loyalty up`). */
  sendOrder: string | null;
}

/**
 * `occurredAt`: the replay's last event time. A live order is stamped a day after it, as live
 * traffic follows a replay of recent history: stamped today, a 1998 data set would make every
 * service live through decades of event time (weekly churn refits, expiries) at once.
 */
export function hints(
  env: NodeJS.ProcessEnv,
  opts: { member: string | null; live: boolean; occurredAt?: number | null },
): Hints {
  const p = `${envPrefix(env)}pnpm loyalty`;
  const order = {
    source: "pos",
    type: "ORDER_PLACED",
    orderId: `live-${Date.now().toString(36)}`,
    customerId: opts.member ?? "c-1",
    occurredAt: new Date(
      opts.occurredAt === null || opts.occurredAt === undefined ? Date.now() : opts.occurredAt + 86_400_000,
    ).toISOString(),
    currency: "USD",
    totalMinor: 2500,
    lines: [],
  };
  return {
    memberShow: opts.member === null ? null : `${p} member show ${shellQuote(opts.member)}`,
    tiersStats: `${p} tiers stats`,
    ledgerVerify: `${p} ledger verify`,
    churnReport: `${p} churn report`,
    sendOrder: opts.live ? `echo ${shellQuote(JSON.stringify(order))} | ${p} replay - --format jsonl` : null,
  };
}

export function formatHints(h: Hints): string {
  const rows: Array<[string, string | null]> = [
    ["a member", h.memberShow],
    ["tiers", h.tiersStats],
    ["the ledger", h.ledgerVerify],
    ["churn", h.churnReport],
    ["a live order", h.sendOrder],
  ];
  return rows
    .filter((r): r is [string, string] => r[1] !== null)
    .map(([what, cmd]) => `  ${what.padEnd(13)} ${cmd}`)
    .join("\n");
}

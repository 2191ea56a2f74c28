// Composition root of the member API: config, clients, the HTTP server, the ledger commands'
// replies consumer (src/ledger-commands.ts), the read model of loyalty.points.v1 (balances, lots,
// history; in event time also the API's clock, see src/now.ts) and the read models of the rules,
// tiers and churn-alerts topics. The API writes no ledger table: redemptions,
// cancellations and adjustments are commands the rules engine applies (ADR 16 step 3). Shutdown:
// stop accepting and finish in-flight requests, stop the consumers, close clients.
import {
  ConsumerRunner,
  bootService,
  checkReadiness,
  consumerCheck,
  groupIdFor,
  installShutdown,
  kafkaAdminCheck,
  lagCheck,
  loadConfig,
  postgresCheck,
  startOpsServer,
  tableMaintenance,
} from "@loyalty/stream-runtime";
import { apiConfigSchema } from "./config.ts";
import { dashboardRunner } from "./dashboard-read-model.ts";
import { instrumentHttp, securityMetrics } from "./http-metrics.ts";
import { IpLimiter } from "./http/ip-limit.ts";
import { MemoryRateLimiter, RedisRateLimiter } from "./http/rate-limit.ts";
import { buildServer } from "./http/server.ts";
import { LedgerCommands } from "./ledger-commands.ts";
import { ApiNow, ledgerNow } from "./now.ts";
import { AppliedEntries, pointsReadModelHandler } from "./points-read-model.ts";
import { readModelRunners } from "./read-models.ts";
import { rulesReadModelHandler } from "./rules-read-model.ts";
import { KEY_CACHE_MS, KeyStore } from "./store/keys.ts";

const config = loadConfig(apiConfigSchema);
// Each ledger command is sent as its request arrives, not after librdkafka's 5 ms linger: the
// request waits for the command's reply.
const kit = await bootService(config, { poolSize: config.API_DB_POOL_SIZE, producerLingerMs: 0 });
const { logger, pool } = kit;
const clock = new ApiNow(kit.clock, kit.clock.mode === "event" ? await ledgerNow(pool) : null);

// One replies consumer per instance, at the end of the topic before the API serves anything.
const ledger = new LedgerCommands({
  kafka: kit.kafka,
  producer: kit.producer.raw,
  codec: kit.codec,
  commands: kit.topics.ledgerCommands,
  replies: kit.topics.ledgerReplies,
  pool,
  group: groupIdFor(config, config.SERVICE_NAME),
  logger,
});
await kit.producer.connect();
await ledger.start();

// Requests that changed the ledger wait for their entry in the points read model (read-your-writes).
const applied = new AppliedEntries(pool);
const rate = { rate: config.API_RATE_LIMIT_PER_SECOND, burst: config.API_RATE_BURST };
const keys = new KeyStore(pool, config.API_ADMIN_KEY, KEY_CACHE_MS, (err) =>
  logger.warn({ err }, "API key last_used_at not written"),
);
const trust = config.API_TRUST_PROXY;
const app = buildServer({
  pool,
  keys,
  ipLimiter: new IpLimiter({
    rate: config.API_IP_RATE_LIMIT_PER_SECOND,
    burst: config.API_IP_RATE_BURST,
    failureRate: config.API_IP_AUTH_FAILURES_PER_SECOND,
    failureBurst: config.API_IP_AUTH_FAILURE_BURST,
  }),
  security: securityMetrics(kit.metrics),
  ...(trust === undefined ? {} : { trustProxy: /^[0-9]+$/.test(trust) ? Number(trust) : trust }),
  limiter:
    config.API_RATE_LIMIT_STORE === "redis"
      ? new RedisRateLimiter(kit.redis, rate, (err) =>
          logger.warn({ err }, "rate limiter: Redis unavailable, in memory"),
        )
      : new MemoryRateLimiter(rate),
  now: () => clock.now(),
  expiryMonths: config.POINTS_EXPIRY_MONTHS,
  ledger,
  replyTimeoutMs: config.LEDGER_REPLY_TIMEOUT_MS,
  applied,
  logger,
  ready: () => ready(),
  churnAlert: { url: config.CHURN_ALERT_URL ?? null, timeoutMs: config.CHURN_ALERT_TIMEOUT_MS },
  pointValue: {
    currency: config.PROGRAMME_BASE_CURRENCY,
    currencyExponent: config.PROGRAMME_CURRENCY_EXPONENT,
    pointValueMinor: config.PROGRAMME_POINT_VALUE_MINOR,
  },
});
instrumentHttp(app, kit.metrics);

// The ledger tables are the rules engine's to maintain; the API's read model of them is its own.
const vacuum = tableMaintenance(kit, [
  "api_requests",
  "api_ledger_commands",
  "api_points_entries",
  "api_points_lots",
  "api_points_balances",
]);
// The read model of loyalty.points.v1 (balances, lots, history: src/points-read-model.ts), in its
// own group from the beginning, in either clock mode. In event mode it also moves the API's clock
// (the engine's committed event times: "now" never passes them); in wall mode it only reads it.
const readOnlyClock = { mode: kit.clock.mode, now: () => kit.clock.now() };
const runner = new ConsumerRunner({
  service: config.SERVICE_NAME,
  kafka: kit.kafka,
  groupId: groupIdFor(config, `${config.SERVICE_NAME}.points`),
  topics: [kit.topics.points.name],
  fromBeginning: true,
  handler: pointsReadModelHandler(pool, kit.codec, logger, applied),
  producer: kit.producer,
  dlq: kit.dlq,
  logger,
  metrics: kit.metrics,
  clock: config.CLOCK_MODE === "event" ? kit.clock : readOnlyClock,
  maxBatch: config.CONSUMER_MAX_BATCH,
  sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
  afterCommit: () => vacuum.kick(),
  // Every partition of a fetch in one transaction and one offset commit (entries are keyed by id).
  gather: true,
});

// The console's read model of loyalty.rules.v1 (ADR 18): its own group, from the beginning, in
// either clock mode. A publication's timestamp is the publisher's wall time, not an event time:
// this runner reads the API's clock but never feeds it (no observe/assign).
const rulesRunner = new ConsumerRunner({
  service: config.SERVICE_NAME,
  kafka: kit.kafka,
  groupId: groupIdFor(config, `${config.SERVICE_NAME}.rules`),
  topics: [kit.topics.rules.name],
  fromBeginning: true,
  handler: rulesReadModelHandler(pool, kit.codec, logger),
  producer: kit.producer,
  dlq: kit.dlq,
  logger,
  metrics: kit.metrics,
  clock: readOnlyClock,
  sessionTimeoutMs: config.CONSUMER_SESSION_TIMEOUT_MS,
});
// Read models of loyalty.tiers.v1 and loyalty.churn-alerts.v1 (ADR 16 step 5): same clock rule.
const readModels = [...readModelRunners(kit, readOnlyClock), dashboardRunner(kit, readOnlyClock)];

// /readyz (on the API's port and the ops server): PostgreSQL answers, Kafka answers (the clock
// consumer is in its group; in wall mode, without one, an admin's metadata request), lag bound.
const kafkaAdmin = kafkaAdminCheck(kit.kafka);
const readiness = [
  postgresCheck(pool),
  config.CLOCK_MODE === "event" ? consumerCheck(runner) : kafkaAdmin,
  lagCheck(kit.metrics, config.READY_MAX_CONSUMER_LAG),
];
function ready() {
  return checkReadiness(readiness, config.READY_TIMEOUT_MS);
}
// Healthy once it serves requests too: the ops server starts before the consumers join their
// groups and the API listens, and `loyalty up` (and a console beside it) wait for /healthz.
let serving = false;
const ops = await startOpsServer(
  config.HTTP_PORT,
  kit.metrics,
  () => serving && runner.isHealthy,
  config.HTTP_HOST,
  [],
  (err, path) => logger.error({ err, path }, "ops route failed"),
  ready,
);
installShutdown(
  logger,
  {
    stop: async () => {
      await app.close(); // no new requests; in-flight ones finish
      await runner.stop();
      await rulesRunner.stop();
      for (const r of readModels) await r.stop();
    },
    close: async () => {
      await ledger.stop();
      await kit.producer.disconnect();
      await kafkaAdmin.close();
      await vacuum.idle();
      await keys.idle();
      await pool.end();
      kit.redis.disconnect();
      await new Promise<void>((r) => ops.server.close(() => r()));
    },
  },
  config.SHUTDOWN_TIMEOUT_MS,
);

await runner.start();
await rulesRunner.start();
for (const r of readModels) await r.start();
const address = await app.listen({ port: config.API_PORT, host: config.API_HOST });
serving = true;
logger.info({ address, clock: kit.clock.mode, opsPort: ops.port }, "member API listening");

// Composition root of the rules engine: config, clients, the rules feed, the ledger store and
// the earning pipeline. Domain logic lives in src/rules (rule format) and src/engine (earning).
import {
  ConfigError,
  LedgerMetrics,
  bootService,
  groupIdFor,
  loadConfig,
  runService,
} from "@loyalty/stream-runtime";
import { ChurnJoin } from "./churn-join.ts";
import { rulesEngineConfigSchema } from "./config.ts";
import { RuleSetRegistry } from "./engine/registry.ts";
import { earningHandler, memberPartitioner, toMovement } from "./pipeline.ts";
import { amountLimitProblems } from "./rules/amounts.ts";
import { RulesFeed } from "./rulesets/feed.ts";
import { SigningKeyError, signerOf, signingKeyFromEnv } from "./rulesets/signing.ts";
import { LedgerStore } from "./store/ledger-store.ts";

const config = loadConfig(rulesEngineConfigSchema);
const kit = await bootService(config, { transactional: true });
const programme = {
  baseCurrency: config.BASE_CURRENCY,
  currencyExponent: config.CURRENCY_EXPONENT,
  timeZone: config.PROGRAMME_TIME_ZONE,
  maxPointsPerEntry: config.MAX_POINTS_PER_ENTRY,
  maxPointsPerMemberPerDay: config.MAX_POINTS_PER_MEMBER_PER_DAY,
  maxOrderAmountMinor: config.MAX_ORDER_AMOUNT_MINOR,
};
const limitProblems = amountLimitProblems(programme);
if (limitProblems.length > 0) throw new ConfigError(limitProblems);
const registry = new RuleSetRegistry(config.RULE_SET_ID, programme);
const signer = rulesSigner();
const feed = new RulesFeed(kit, registry, {
  group: `${groupIdFor(config, config.SERVICE_NAME)}.rulesets.${config.INSTANCE_ID}`,
  skewMs: config.RULES_PUBLISH_SKEW_MS,
  keys: config.RULES_PUBLIC_KEYS,
  signer,
});
await feed.start();
if (config.RULES_BOOTSTRAP_DIR !== "") await feed.bootstrap(config.RULES_BOOTSTRAP_DIR);

const store = new LedgerStore(kit.pool, registry, {
  programme,
  tierConfig: config.TIER_CONFIG_JSON,
  expiryMonths: config.POINTS_EXPIRY_MONTHS,
  allowNegativeBalance: config.ALLOW_NEGATIVE_BALANCE,
});
const admin = kit.kafka.admin();
await admin.connect();
const meta = await admin
  .fetchTopicMetadata({ topics: [kit.topics.purchases.name, kit.topics.churnAlerts.name] })
  .finally(() => admin.disconnect());
const partitionsOf = (topic: string) =>
  meta.topics.find((t) => t.name === topic)?.partitions.length ?? config.LOYALTY_PARTITIONS;
// Which purchases partition a member's lots belong to: that partition's batches expire them.
const partitionOf = memberPartitioner(partitionsOf(kit.topics.purchases.name));
// The join with churn alerts (ADR 12) exists in event mode only: live operation reads them as they come.
let join: ChurnJoin | null = null;
if (kit.clock.mode === "event" && config.CHURN_JOIN === "event-time") {
  const alertPartitions = partitionsOf(kit.topics.churnAlerts.name);
  join = new ChurnJoin({ pool: kit.pool, registry, alertPartitions, logger: kit.logger });
  await join.start();
}
let batches = 0;
const ledgerMetrics = new LedgerMetrics(kit.metrics);
const campaigns = kit.metrics.counter("loyalty_campaigns_triggered_total", "Campaign triggers written");
const runner = await runService(kit, {
  group: config.SERVICE_NAME,
  // The ledger tables are shared with the API; this service, their main writer, maintains them.
  vacuum: [
    "rules_priced_events",
    "rules_members",
    "rules_orders",
    "rules_usage",
    "ledger_entries",
    "ledger_lots",
    "ledger_lot_movements",
    "ledger_balances",
  ],
  topics: [kit.topics.purchases.name, kit.topics.memberChanges.name, kit.topics.churnAlerts.name],
  handler: earningHandler({
    codec: kit.codec,
    topics: kit.topics,
    feed,
    store,
    join,
    onWritten: (w) => {
      ledgerMetrics.count(w.entries.map(toMovement));
      campaigns.inc(w.campaigns.length);
    },
    afterCommit: () => {
      batches++;
      if (batches === config.FAULT_KILL_AFTER_BATCH) process.kill(process.pid, "SIGKILL");
    },
    partitionOf,
  }),
  // Wall mode: time passes without input, so the lots of members with no movement also expire on
  // a timer (event mode: after each purchases batch, at the partition's stream time).
  ...(kit.clock.mode === "wall"
    ? {
        tickIntervalMs: config.POINTS_EXPIRY_CHECK_MS,
        onTick: async (ctx) => {
          const time = ctx.clock.now();
          const entries = await store.punctuate(time, `expiry-tick:${config.INSTANCE_ID}:${time}`);
          ledgerMetrics.count(entries.map(toMovement));
          const values = await Promise.all(
            entries.map((e) => kit.codec.encode(kit.topics.points, toMovement(e))),
          );
          entries.forEach((e, i) => {
            ctx.produce({
              topic: kit.topics.points.name,
              key: e.memberId,
              value: values[i] as Buffer,
              timestamp: e.eventTime,
            });
          });
        },
      }
    : {}),
  close: async () => {
    join?.stop();
    await feed.stop();
  },
});
join?.bind((topic, partition) => runner.resume(topic, partition));

/** The bootstrap's signer, if a signing key is configured; its key must be a trusted one. */
function rulesSigner() {
  try {
    const key = signingKeyFromEnv({
      RULES_SIGNING_KEY: config.RULES_SIGNING_KEY,
      RULES_SIGNING_KEY_FILE: config.RULES_SIGNING_KEY_FILE,
    });
    if (key === null) return null;
    const s = signerOf(key, config.RULES_PUBLISHER);
    if (!config.RULES_PUBLIC_KEYS.has(s.keyId))
      throw new ConfigError([
        `RULES_SIGNING_KEY: its public key (key id ${s.keyId}) is not one of RULES_PUBLIC_KEYS: the engine would refuse its own bootstrap`,
      ]);
    return s;
  } catch (err) {
    if (err instanceof SigningKeyError) throw new ConfigError([err.message]);
    throw err;
  }
}

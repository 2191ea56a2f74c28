// Composition root of the rules engine: config, clients, the rules feed, the ledger store and
// the engine's tasks (src/topology.ts). Domain logic lives in src/rules (rule format) and src/engine (earning).
import {
  ConfigError,
  LedgerMetrics,
  bootService,
  groupIdFor,
  loadConfig,
  runTasks,
} from "@loyalty/stream-runtime";
import { rulesEngineConfigSchema } from "./config.ts";
import { RuleSetRegistry } from "./engine/registry.ts";
import { memberPartitioner, toMovement } from "./pipeline.ts";
import { amountLimitProblems } from "./rules/amounts.ts";
import { RulesFeed } from "./rulesets/feed.ts";
import { LedgerStore } from "./store/ledger-store.ts";
import { engineTopology } from "./topology.ts";

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
const feed = new RulesFeed(kit, registry, {
  group: `${groupIdFor(config, config.SERVICE_NAME)}.rulesets.${config.INSTANCE_ID}`,
  skewMs: config.RULES_PUBLISH_SKEW_MS,
  keys: config.RULES_PUBLIC_KEYS,
});
// The engine never writes loyalty.rules.v1 (only the publisher principal may): on an empty topic
// it waits for a publication before pricing anything (RulesFeed.ensureFresh); the project's
// tooling publishes rules/standard first (`loyalty up`, `loyalty bench`, compose, the tests).
await feed.start();

const store = new LedgerStore(registry, {
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
let batches = 0;
const ledgerMetrics = new LedgerMetrics(kit.metrics);
const campaigns = kit.metrics.counter("loyalty_campaigns_triggered_total", "Campaign triggers written");
const commands = kit.metrics.counter(
  "loyalty_ledger_commands_total",
  "Ledger command replies sent (a duplicate's included), by status and reason code",
  ["status", "reason"],
);
const late = kit.metrics.counter(
  "loyalty_rules_churn_join_late_total",
  "Purchases priced past CHURN_JOIN_MAX_WAIT_MS without churn-alert's frontier (alerts known then)",
);
await runTasks(kit, {
  group: config.SERVICE_NAME,
  // The ledger tables are shared with the API; this service, their main writer, maintains them.
  vacuum: [
    "rules_priced_events",
    "rules_ledger_commands",
    "rules_members",
    "rules_orders",
    "rules_usage",
    "ledger_entries",
    "ledger_lots",
    "ledger_lot_movements",
    "ledger_balances",
  ],
  // Co-partitioned, keyed by member id; ties of timestamps: alerts, member changes, purchases.
  // Ledger commands last: at equal timestamps a command sees the purchases before it.
  topics: [
    kit.topics.churnAlerts.name,
    kit.topics.memberChanges.name,
    kit.topics.purchases.name,
    kit.topics.ledgerCommands.name,
  ],
  topology: engineTopology({
    codec: kit.codec,
    topics: kit.topics,
    feed,
    store,
    registry,
    clockMode: kit.clock.mode,
    // The join with churn alerts (ADR 12) exists in event mode only: live operation reads them as they come.
    join: config.CHURN_JOIN === "event-time",
    maxWaitMs: config.CHURN_JOIN_MAX_WAIT_MS,
    partitionOf,
    late,
    onWritten: (w) => {
      ledgerMetrics.count(w.entries.map(toMovement));
      campaigns.inc(w.campaigns.length);
    },
    onReplied: (replies) => {
      for (const r of replies) commands.inc({ status: r.status, reason: r.reasonCode ?? "" });
    },
    instanceId: config.INSTANCE_ID,
  }),
  // Wall mode: time passes without input, so the lots of members with no movement also expire on
  // a timer (event mode: after each purchase, at the task's stream time).
  tickIntervalMs: config.POINTS_EXPIRY_CHECK_MS,
  maxBytesPerPartition: config.FETCH_MAX_BYTES_PER_PARTITION,
  afterStateCommit: () => {
    batches++;
    if (batches === config.FAULT_KILL_AFTER_BATCH) process.kill(process.pid, "SIGKILL");
  },
  close: async () => {
    await feed.stop();
  },
});

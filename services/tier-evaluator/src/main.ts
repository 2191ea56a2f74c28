// Composition root of the tier evaluator: loyalty.purchases.v1 (or loyalty.points.v1) in,
// loyalty.tiers.v1 out, state owned by tasks (ADR 16). See README.md and docs/adr/0007.
import { bootService, groupIdFor, loadConfig, runTasks } from "@loyalty/stream-runtime";
import { loadTierConfig, tierEvaluatorConfigSchema } from "./config.ts";
import { sourceFor } from "./domain/inputs.ts";
import { saveSettings } from "./store.ts";
import { tierTopology } from "./topology.ts";

const GROUP = "tier-evaluator";

const config = loadConfig(tierEvaluatorConfigSchema);
const tierConfig = loadTierConfig(config.TIER_CONFIG_FILE);
const kit = await bootService(config, { transactional: true });
const source = sourceFor(tierConfig.metric);
// Only the configured metric's topic: a member's events on two topics have no defined relative
// order, so both moving the task's stream time would make the output depend on consumption.
const input = source === "points" ? kit.topics.points.name : kit.topics.purchases.name;
const tierChanges = kit.metrics.counter(
  "loyalty_tier_changes_total",
  "Tier changes sent to the tiers topic, by direction and new tier",
  ["direction", "to_tier"],
);
const topology = tierTopology({
  config: tierConfig,
  source,
  mode: config.CLOCK_MODE,
  maxFutureMs: config.TIER_MAX_FUTURE_MS,
  codec: kit.codec,
  tiers: kit.topics.tiers,
  onCommitted: (changes) => {
    for (const c of changes) tierChanges.inc({ direction: c.direction, to_tier: c.toTier });
  },
});
await saveSettings(kit.pool, {
  config: tierConfig,
  clockMode: config.CLOCK_MODE,
  inputTopic: input,
  groupId: groupIdFor(config, GROUP),
});
kit.logger.info(
  { metric: tierConfig.metric, tiers: tierConfig.tiers.map((t) => t.name), input },
  "tier programme loaded",
);

let commits = 0;
await runTasks(kit, {
  group: GROUP,
  topics: [input],
  topology,
  tickIntervalMs: config.TIER_TICK_MS,
  // Off the path from an order to its points: fewer, larger transactions (ADR 16).
  commitIntervalMs: 250,
  vacuum: ["tier_members"],
  // Fault injection for the crash test only: SIGKILL between a batch's two commits.
  ...(config.TIER_CRASH_AFTER_COMMITS > 0
    ? {
        afterStateCommit: () => {
          if (++commits === config.TIER_CRASH_AFTER_COMMITS) process.kill(process.pid, "SIGKILL");
        },
      }
    : {}),
});

// Composition root of the tier evaluator: loyalty.purchases.v1 / loyalty.points.v1 in,
// loyalty.tiers.v1 out. See README.md and docs/adr/0007-tier-evaluator-event-time.md.
import { bootService, groupIdFor, loadConfig, runService } from "@loyalty/stream-runtime";
import { loadTierConfig, tierEvaluatorConfigSchema } from "./config.ts";
import { TierPipeline } from "./pipeline.ts";
import { OutboxRelay } from "./relay.ts";
import { TierStore } from "./store.ts";

const GROUP = "tier-evaluator";

const config = loadConfig(tierEvaluatorConfigSchema);
const tierConfig = loadTierConfig(config.TIER_CONFIG_FILE);
const kit = await bootService(config, { transactional: true });
const store = new TierStore(kit.pool, kit.redis, kit.logger);
const group = groupIdFor(config, GROUP);
const relay = new OutboxRelay(
  kit.kafka,
  kit.pool,
  kit.codec,
  kit.topics,
  `${group}-outbox`,
  `${group}-outbox-${config.INSTANCE_ID}`,
  kit.logger,
);
const pipeline = new TierPipeline(
  kit.topics,
  kit.codec,
  store,
  relay,
  { config: tierConfig, mode: config.CLOCK_MODE, maxFutureMs: config.TIER_MAX_FUTURE_MS },
  kit.logger,
);
const tierChanges = kit.metrics.counter(
  "loyalty_tier_changes_total",
  "Tier changes sent to the tiers topic, by direction and new tier",
  ["direction", "to_tier"],
);
relay.onSent((changes) => {
  kit.metrics.countProduced(changes.map(() => ({ topic: kit.topics.tiers.name })));
  for (const c of changes) tierChanges.inc({ direction: c.direction, to_tier: c.toTier });
});
await store.saveSettings(tierConfig, config.CLOCK_MODE, pipeline.inputTopic);
await relay.start();
kit.logger.info(
  { metric: tierConfig.metric, tiers: tierConfig.tiers.map((t) => t.name), input: pipeline.inputTopic },
  "tier programme loaded",
);

await runService(kit, {
  group: GROUP,
  vacuum: ["tier_members", "tier_outbox", "processed_events"],
  topics: [kit.topics.purchases.name, kit.topics.points.name],
  handler: async (messages, ctx) => {
    await pipeline.handle(messages, ctx);
  },
  onTick: async (ctx) => {
    await pipeline.tick(ctx);
  },
  tickIntervalMs: config.TIER_TICK_MS,
  close: () => relay.close(),
});

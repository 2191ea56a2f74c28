// Composition root of churn-alert: loyalty.purchases.v1 in, loyalty.churn-alerts.v1 out.
import { bootService, loadConfig, runService } from "@loyalty/stream-runtime";
import { calibrationRoute } from "./calibration.ts";
import { churnConfigSchema, settingsFrom } from "./config.ts";
import { createPipeline } from "./pipeline.ts";

const config = loadConfig(churnConfigSchema);
const kit = await bootService(config, { transactional: true });
const settings = settingsFrom(config);

// Kept open: the tick asks for the input's end offsets to tell a finished replay.
const admin = kit.kafka.admin();
await admin.connect();
const input = kit.topics.purchases.name;
const alerts = kit.topics.churnAlerts.name;
const meta = await admin.fetchTopicMetadata({ topics: [input, alerts] });
const partitionsOf = (topic: string) =>
  meta.topics.find((t) => t.name === topic)?.partitions.length ?? config.LOYALTY_PARTITIONS;
// Alerts are counted once their Kafka transaction committed (frontier markers have no value).
const churnAlerts = kit.metrics.counter("loyalty_churn_alerts_total", "Churn alerts sent");
kit.producer.onSent((sent) => {
  let n = 0;
  for (const m of sent) if (m.topic === alerts && m.value !== null) n++;
  if (n > 0) churnAlerts.inc(n);
});
const pipeline = createPipeline(
  kit,
  settings,
  {
    partitions: partitionsOf(input),
    alertPartitions: partitionsOf(alerts),
    endOffsets: async () =>
      (await admin.fetchTopicOffsets(input)).map((o) => ({ partition: o.partition, high: Number(o.high) })),
  },
  config.CHURN_IDLE_MS,
);
await runService(kit, {
  close: () => admin.disconnect(),
  group: config.SERVICE_NAME,
  topics: [kit.topics.purchases.name],
  handler: pipeline.handler,
  onTick: pipeline.onTick,
  // A catch-up paused by the last shutdown resumes at once, not at the next input event.
  tickOnStart: true,
  // In event mode too: a finished replay's tail is released once the input has stood idle.
  timerTicks: true,
  tickIntervalMs: kit.clock.mode === "wall" ? 1000 : Math.max(100, Math.floor(config.CHURN_IDLE_MS / 2)),
  // Every batch rewrites the members it advances, and a refit moves every due time.
  vacuum: ["churn_members", "churn_due", "churn_events", "churn_alerts"],
  // Read-only: the calibration report the API forwards (GET /v1/churn/calibration).
  routes: [calibrationRoute(kit.pool, settings)],
});

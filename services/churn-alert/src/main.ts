// Composition root of churn-alert: loyalty.purchases.v1 in, loyalty.churn-alerts.v1 out, one
// task over all partitions (ADR 16): the stream runtime keeps offsets, event time and output.
import { bootService, loadConfig, runGroupTasks } from "@loyalty/stream-runtime";
import { calibrationRoute } from "./calibration.ts";
import { churnCardRoute } from "./churn-card-route.ts";
import { churnConfigSchema, settingsFrom } from "./config.ts";
import { churnTopology } from "./topology.ts";

const config = loadConfig(churnConfigSchema);
const kit = await bootService(config, { transactional: true });
const settings = settingsFrom(config);

const input = kit.topics.purchases.name;
const alerts = kit.topics.churnAlerts;
const admin = kit.kafka.admin();
await admin.connect();
const meta = await admin.fetchTopicMetadata({ topics: [alerts.name] }).finally(() => admin.disconnect());
const alertPartitions = meta.topics[0]?.partitions.length ?? config.LOYALTY_PARTITIONS;
// Alerts are counted once their Kafka transaction committed (frontier markers have no value).
const churnAlerts = kit.metrics.counter("loyalty_churn_alerts_total", "Churn alerts sent");
kit.producer.onSent((sent) => {
  let n = 0;
  for (const m of sent) if (m.topic === alerts.name && m.value !== null) n++;
  if (n > 0) churnAlerts.inc(n);
});
const modelErrors = kit.metrics.counter(
  "loyalty_churn_model_errors_total",
  "Churn scores the model could not compute, by kind",
  ["kind"],
);
const topology = churnTopology({
  codec: kit.codec,
  alerts,
  alertPartitions,
  settings,
  mode: kit.clock.mode,
  log: kit.logger,
  onModelError: (e) => modelErrors.inc({ kind: e.kind }),
});
await runGroupTasks(kit, {
  group: config.SERVICE_NAME,
  topics: [input],
  topology,
  idleMs: config.CHURN_IDLE_MS,
  // In event mode too: a finished replay's tail is released once the input has stood idle.
  tickIntervalMs: kit.clock.mode === "wall" ? 1000 : Math.max(100, Math.floor(config.CHURN_IDLE_MS / 2)),
  // Every batch rewrites the members it advances, and a refit moves every due time.
  vacuum: ["churn_members", "churn_due", "churn_events", "churn_alerts"],
  // Read-only: the calibration report and the member's churn card the API forwards
  // (GET /v1/churn/calibration, GET /v1/members/{id}/churn).
  routes: [calibrationRoute(kit.pool, settings), churnCardRoute(kit.pool, settings)],
});

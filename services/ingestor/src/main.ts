// Composition root of the ingestor: upstream orders.v1 / members.v1 in, canonical events out.
import { bootService, loadConfig, runService } from "@loyalty/stream-runtime";
import { Counter } from "prom-client";
import { ingestorConfigSchema, ingestorSettings } from "./config.ts";
import { IngestPipeline } from "./pipeline.ts";
import { IngestStore } from "./store.ts";

const config = loadConfig(ingestorConfigSchema);
const settings = ingestorSettings(config);
const kit = await bootService(config, { transactional: true });
const pipeline = new IngestPipeline(kit.topics, kit.codec, new IngestStore(kit.pool), settings);

const outcomes = new Counter({
  name: "loyalty_ingest_events_total",
  help: "Upstream events by outcome",
  labelNames: ["outcome"],
  registers: [kit.metrics.registry],
});

await runService(kit, {
  group: "ingestor",
  vacuum: ["ingest_events", "ingest_outcomes", "ingest_orders", "ingest_members", "ingest_held_messages"],
  topics: [kit.topics.orders.name, kit.topics.members.name],
  handler: async (messages, ctx) => {
    const s = await pipeline.handle(messages, ctx);
    outcomes.inc({ outcome: "accepted" }, s.accepted);
    outcomes.inc({ outcome: "duplicate" }, s.duplicates);
    outcomes.inc({ outcome: "rejected" }, s.rejected);
    outcomes.inc({ outcome: "held" }, s.held);
  },
});

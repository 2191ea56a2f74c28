// Composition root of the ingestor: upstream orders.v1 / members.v1 in, canonical events out.
import { bootService, loadConfig, runTasks } from "@loyalty/stream-runtime";
import { ingestorConfigSchema, ingestorSettings } from "./config.ts";
import { ingestTopology } from "./topology.ts";

const config = loadConfig(ingestorConfigSchema);
const settings = ingestorSettings(config);
const kit = await bootService(config, { transactional: true });

await runTasks(kit, {
  group: "ingestor",
  // Co-partitioned, both keyed by customer id: task p is partition p of both. Records are
  // merged by timestamp; at the same time a registration goes before an order.
  topics: [kit.topics.members.name, kit.topics.orders.name],
  topology: ingestTopology(kit, settings),
  vacuum: ["ingest_events", "ingest_orders", "ingest_members", "ingest_held_messages"],
});

// Library surface of the tier evaluator (the composition root is src/main.ts).
export * from "./domain/index.ts";
export { readTierStats, type TierStatsReport } from "./stats.ts";
export { tierTopology, type TierTopologyOptions } from "./topology.ts";

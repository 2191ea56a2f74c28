// The engine's services and the ops ports they use on one machine (`pnpm loyalty up`, and
// docker-compose.yml's HTTP_PORT), which the Prometheus configs scrape.

export const SERVICES = [
  { name: "ingestor", opsPort: 9101 },
  { name: "rules-engine", opsPort: 9102 },
  { name: "tier-evaluator", opsPort: 9103 },
  { name: "churn-alert", opsPort: 9104 },
  { name: "api", opsPort: 9105 },
] as const;

export type ServiceName = (typeof SERVICES)[number]["name"];
export const SERVICE_NAMES: readonly string[] = SERVICES.map((s) => s.name);

/** Series Prometheus writes itself for each target: not in any service's /metrics. */
export const SCRAPE_SERIES = new Set([
  "up",
  "scrape_duration_seconds",
  "scrape_samples_scraped",
  "scrape_samples_post_metric_relabeling",
  "scrape_series_added",
]);

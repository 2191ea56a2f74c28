// Checks a Grafana dashboard's PromQL against the services' real /metrics: every metric a panel
// uses must be exported by each service the panel is about, with samples in at least one of
// them (a panel that would stay empty is a problem too), the labels its matchers and legends
// name must exist on those samples, and its exact matchers' values on one of them. The services a selector is about come from its `service` matcher:
// `service="api"` is the API, `service=~"rules-engine|api"` those two, `service=~"$service"`
// (the dashboard's variable) or no matcher every service.
import { type Family, resolveMetric } from "./exposition.ts";
import { type Selector, selectorsOf } from "./promql.ts";
import { SCRAPE_SERIES } from "./services.ts";

export interface Panel {
  title?: string;
  type?: string;
  targets?: Array<{ expr?: string; refId?: string; legendFormat?: string }>;
  panels?: Panel[];
}

export interface Dashboard {
  panels?: Panel[];
  templating?: { list?: Array<{ name?: string; type?: string; query?: unknown; definition?: string }> };
}

export interface MetricUse {
  panel: string;
  expr: string;
  legend: string;
  selector: Selector;
  services: string[];
}

/** Panels in order, rows' collapsed children included. */
export function panelsOf(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (ps: Panel[] | undefined) => {
    for (const p of ps ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(d.panels);
  return out;
}

const ALL = new Set(["$service", "${service}", ".*", ".+"]);

/** The services a selector is about, or a problem with its `service` matcher. */
export function servicesOf(s: Selector, known: readonly string[]): string[] | string {
  const m = s.matchers.filter((x) => x.label === "service");
  if (m.length === 0) return [...known];
  if (m.length > 1) return `more than one service matcher on ${s.metric}`;
  const { op, value } = m[0]!;
  const names = ALL.has(value) ? [...known] : value.split("|");
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) return `service ${unknown.join(", ")} of ${s.metric} is not one of ${known.join(", ")}`;
  if (op === "=" || op === "=~") return names;
  return known.filter((n) => !names.includes(n));
}

export function metricUses(
  d: Dashboard,
  known: readonly string[],
): { uses: MetricUse[]; problems: string[] } {
  const uses: MetricUse[] = [];
  const problems: string[] = [];
  for (const p of panelsOf(d)) {
    if (p.type === "row") continue;
    const panel = p.title ?? "(untitled)";
    const targets = p.targets ?? [];
    if (targets.length === 0) problems.push(`panel "${panel}" has no query`);
    for (const t of targets) {
      if (!t.expr) {
        problems.push(`panel "${panel}" query ${t.refId ?? "?"} has no expression`);
        continue;
      }
      let selectors: Selector[];
      try {
        selectors = selectorsOf(t.expr);
      } catch (err) {
        problems.push(`panel "${panel}": ${(err as Error).message}`);
        continue;
      }
      if (selectors.length === 0) problems.push(`panel "${panel}" query ${t.refId ?? "?"} uses no metric`);
      for (const selector of selectors) {
        const services = servicesOf(selector, known);
        if (typeof services === "string") problems.push(`panel "${panel}": ${services}`);
        else uses.push({ panel, expr: t.expr, legend: t.legendFormat ?? "", selector, services });
      }
    }
  }
  return { uses, problems };
}

/**
 * Problems of the dashboard against the scraped families of each service (by service name);
 * an empty list means every panel can show data. `jobs` are the Prometheus config's job names,
 * for the `up{job=...}` kind of series Prometheus writes itself.
 */
export function checkDashboard(
  d: Dashboard,
  scraped: ReadonlyMap<string, Map<string, Family>>,
  jobs: readonly string[] = [],
): string[] {
  const known = [...scraped.keys()];
  const { uses, problems } = metricUses(d, known);
  for (const u of uses) {
    const { metric, matchers } = u.selector;
    const where = `panel "${u.panel}": ${metric}`;
    if (SCRAPE_SERIES.has(metric)) {
      for (const m of matchers)
        if (m.label === "job" && m.op === "=" && !jobs.includes(m.value))
          problems.push(
            `${where}: job "${m.value}" is not a job of the Prometheus config (${jobs.join(", ")})`,
          );
      continue;
    }
    const found: Family[] = [];
    for (const service of u.services) {
      const f = resolveMetric(scraped.get(service)!, metric);
      if (f) found.push(f);
      else problems.push(`${where} is not in the /metrics of ${service}`);
    }
    if (found.length < u.services.length) continue;
    const samples = found.flatMap((f) => f.samples.filter((s) => s.name === metric));
    if (samples.length === 0) {
      problems.push(`${where} has no sample in the /metrics of ${u.services.join(", ")}`);
      continue;
    }
    let labelled = true;
    for (const m of matchers) {
      if (m.label === "service" || m.label === "le") continue;
      if (!samples.some((s) => m.label in s.labels)) {
        problems.push(`${where}: no sample has the label "${m.label}"`);
        labelled = false;
      }
    }
    // Exact matchers name values a sample must have (a regex like status=~"5.." may match none
    // in a healthy run, and is not judged).
    const exact = matchers.filter((m) => m.op === "=" && m.label !== "service");
    if (labelled && exact.length && !samples.some((s) => exact.every((m) => s.labels[m.label] === m.value)))
      problems.push(`${where}: no sample has ${exact.map((m) => `${m.label}="${m.value}"`).join(", ")}`);
  }
  // A legend's {{label}} must be a label of the query's series (Prometheus adds job and instance).
  const byQuery = new Map<string, MetricUse[]>();
  for (const u of uses)
    byQuery.set(`${u.panel}\u0000${u.expr}`, [...(byQuery.get(`${u.panel}\u0000${u.expr}`) ?? []), u]);
  for (const group of byQuery.values()) {
    const { panel, legend } = group[0]!;
    const labels = new Set(["job", "instance"]);
    let missing = false; // reported above: its legend is not judged
    for (const u of group)
      for (const service of u.services) {
        if (SCRAPE_SERIES.has(u.selector.metric)) continue;
        const f = resolveMetric(scraped.get(service) ?? new Map(), u.selector.metric);
        if (!f) missing = true;
        for (const s of f?.samples ?? []) for (const l of Object.keys(s.labels)) labels.add(l);
      }
    if (missing) continue;
    for (const [, l] of legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g))
      if (!labels.has(l!))
        problems.push(`panel "${panel}": the legend's {{${l}}} is not a label of its series`);
  }
  // A variable's label_values(metric, label) must find values too.
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === "string" ? v.query : ((v.query as { query?: string })?.query ?? "");
    const lv = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*(\w+)\s*\)/.exec(q);
    if (!lv) continue;
    const [, metric, label] = lv;
    for (const [service, families] of scraped) {
      const samples = resolveMetric(families, metric!)?.samples.filter((s) => s.name === metric) ?? [];
      if (!samples.some((s) => label! in s.labels))
        problems.push(
          `variable $${v.name}: ${metric} has no sample with "${label}" in the /metrics of ${service}`,
        );
    }
  }
  return problems;
}

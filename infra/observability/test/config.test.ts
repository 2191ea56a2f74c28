// The scrape configs, docker-compose.yml and the Grafana provisioning agree with each other and
// with the ports the services are given.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { SERVICES } from "../src/services.ts";

const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), "utf8");
const yaml = <T>(rel: string): T => parse(read(rel), { merge: true }) as T;

interface PromConfig {
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
}
const targets = (c: PromConfig, job: string) =>
  c.scrape_configs.find((j) => j.job_name === job)?.static_configs.flatMap((s) => s.targets) ?? [];

interface Compose {
  services: Record<
    string,
    { image?: string; environment?: Record<string, string>; volumes?: string[]; command?: string[] }
  >;
}
const compose = yaml<Compose>("../../../docker-compose.yml");

describe("Prometheus scrape configs", () => {
  it("prometheus.yml (docker-compose) scrapes each service by its compose name and ops port", () => {
    expect(targets(yaml("../prometheus.yml"), "loyalty")).toEqual(
      SERVICES.map((s) => `${s.name}:${s.opsPort}`),
    );
  });

  it("prometheus.local.yml scrapes the same ports on 127.0.0.1", () => {
    expect(targets(yaml("../prometheus.local.yml"), "loyalty")).toEqual(
      SERVICES.map((s) => `127.0.0.1:${s.opsPort}`),
    );
  });

  it("the ports are those `pnpm loyalty up` gives the services", async () => {
    // Read through a variable: the CLI is not a dependency of this package.
    const cli = "../../../apps/cli/src/engine.ts";
    const { SERVICES: up } = (await import(cli)) as { SERVICES: Array<{ name: string; opsPort: number }> };
    expect(up.map((s) => ({ name: s.name, opsPort: s.opsPort }))).toEqual(SERVICES);
  });
});

describe("docker-compose.yml", () => {
  it("gives each service its ops port, reachable from the prometheus container", () => {
    for (const s of SERVICES) {
      const env = compose.services[s.name]?.environment ?? {};
      expect(env.HTTP_PORT, s.name).toBe(String(s.opsPort));
      expect(env.HTTP_HOST, s.name).toBe("0.0.0.0");
      expect(env.SERVICE_NAME, s.name).toBe(s.name);
    }
  });

  it("runs pinned Prometheus and Grafana images on read-only provisioning, the password from the environment", () => {
    const { prometheus, grafana } = compose.services;
    expect(prometheus?.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(grafana?.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(prometheus?.volumes).toContain(
      "./infra/observability/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
    );
    expect(prometheus?.command).toContain("--config.file=/etc/prometheus/prometheus.yml");
    expect(grafana?.volumes).toEqual(
      expect.arrayContaining([
        "./infra/observability/grafana/provisioning:/etc/grafana/provisioning:ro",
        "./infra/observability/grafana/dashboards:/var/lib/grafana/dashboards:ro",
      ]),
    );
    expect(grafana?.environment?.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}$/);
    expect(grafana?.environment?.PROMETHEUS_URL).toBe("http://prometheus:9090");
    expect(grafana?.environment?.LOYALTY_DASHBOARDS_DIR).toBe("/var/lib/grafana/dashboards");
  });
});

describe("Grafana provisioning", () => {
  it("the dashboard's data source is the provisioned one, and its file is where the provider looks", () => {
    const ds = yaml<{ datasources: Array<{ uid: string; type: string; url: string }> }>(
      "../grafana/provisioning/datasources/prometheus.yml",
    ).datasources;
    const dashboards = yaml<{ providers: Array<{ options: { path: string } }> }>(
      "../grafana/provisioning/dashboards/loyalty.yml",
    ).providers;
    const d = JSON.parse(read("../grafana/dashboards/loyalty.json"));
    const variable = d.templating.list.find((v: { name: string }) => v.name === "datasource");
    expect(ds).toEqual([expect.objectContaining({ type: "prometheus", url: "${PROMETHEUS_URL}" })]);
    expect(variable.current.value).toBe(ds[0]?.uid);
    expect(dashboards[0]?.options.path).toBe("${LOYALTY_DASHBOARDS_DIR}");
    // Every panel queries through the variable, so another Prometheus can be picked.
    const panels = d.panels.filter((p: { type: string }) => p.type !== "row");
    for (const p of panels)
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "${datasource}" });
    // Unique ids and no overlapping grid positions.
    expect(new Set(d.panels.map((p: { id: number }) => p.id)).size).toBe(d.panels.length);
    const cells = new Set<string>();
    for (const p of d.panels)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps`).toBe(false);
          cells.add(`${x},${y}`);
        }
  });
});

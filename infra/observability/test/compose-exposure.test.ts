// docker-compose.yml exposes only what a user reaches from outside (the member API, Grafana) and,
// on the loopback interface only, the broker and Prometheus; PostgreSQL, Redis and the schema
// registry stay inside the compose network and require passwords from the environment; the
// engine's image does not run as root; the README names every variable compose requires.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const read = (rel: string) => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), "utf8");

interface ComposeService {
  image?: string;
  build?: unknown;
  ports?: string[];
  environment?: Record<string, string>;
  command?: string[];
}
const composeText = read("../../../docker-compose.yml");
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;

/** "127.0.0.1:9092:9092" -> host interface "127.0.0.1"; "8080:8080" -> all interfaces (""). */
function hostInterface(port: string): string {
  const parts = port.split(":");
  return parts.length === 3 ? (parts[0] ?? "") : "";
}

describe("docker-compose.yml exposure", () => {
  it("publishes no port of PostgreSQL, Redis or the schema registry", () => {
    for (const name of ["postgres", "redis", "registry"]) {
      expect(services[name], name).toBeDefined();
      expect(services[name]?.ports ?? [], name).toEqual([]);
    }
  });

  it("publishes on all interfaces only the member API, the console and Grafana; the rest on 127.0.0.1", () => {
    const open: string[] = [];
    for (const [name, svc] of Object.entries(services)) {
      for (const p of svc.ports ?? []) {
        const iface = hostInterface(p);
        if (iface === "") open.push(name);
        else expect(iface, `${name} ${p}`).toBe("127.0.0.1");
      }
    }
    expect(open.sort()).toEqual(["api", "console", "grafana"]);
  });

  it("requires the database and cache passwords from the environment, no trust auth", () => {
    const pg = services.postgres?.environment ?? {};
    expect(pg.POSTGRES_HOST_AUTH_METHOD).toBeUndefined();
    expect(pg.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    expect(services.redis?.environment?.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    expect((services.redis?.command ?? []).join(" ")).toContain("requirepass");
    for (const [name, svc] of Object.entries(services)) {
      // The engine's services share one image and name themselves; the one-shot ACL step and
      // the registry's proxy use that image too but never touch PostgreSQL or Redis.
      if (svc.build === undefined || svc.environment?.SERVICE_NAME === undefined) continue;
      const env = svc.environment ?? {};
      expect(env.DATABASE_URL, name).toMatch(/^postgres:\/\/postgres:\$\{POSTGRES_PASSWORD:\?[^}]*\}@/);
      expect(env.REDIS_URL, name).toMatch(/^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]*\}@/);
    }
  });

  it("builds the engine's image to run as a non-root user", () => {
    const lines = read("../../docker/Dockerfile")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const users = lines.filter((l) => /^USER\s/i.test(l));
    expect(users.length).toBeGreaterThan(0);
    const last = users[users.length - 1] ?? "";
    expect(last).not.toMatch(/^USER\s+(root|0)(:|$)/i);
    // Nothing after the last USER may switch back or run as root.
    const after = lines.slice(lines.lastIndexOf(last) + 1);
    expect(after.filter((l) => /^(RUN|USER)\s/i.test(l))).toEqual([]);
  });

  it("keeps installed modules, history and env files out of the build context", () => {
    const ignored = read("../../../.dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    for (const p of ["**/node_modules", ".git", ".tools", ".env"]) expect(ignored, p).toContain(p);
  });

  it("the README names every variable compose requires", () => {
    const required = [...composeText.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1] ?? "");
    expect(required.length).toBeGreaterThan(0);
    const readme = read("../../../README.md");
    for (const v of new Set(required)) expect(readme, v).toContain(`\`${v}\``);
  });
});

// `loyalty up --fresh --no-demo`: starts every service in a namespace of its own and keeps them
// running; SIGTERM stops them cleanly (exit 0) and nothing is left listening.
import { spawn } from "node:child_process";
import { type TestStack, requireStack } from "@loyalty/testkit";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { MAIN, REPO, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

const PORT_BASE = 19531;
const PORTS = [0, 1, 2, 3, 4].map((i) => PORT_BASE + i);

const healthy = (port: number) =>
  fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) })
    .then((r) => r.ok)
    .catch(() => false);

describe("loyalty up", () => {
  it("--fresh --no-demo: a new namespace, five healthy services; SIGTERM stops them all, exit 0", async () => {
    const env = stackEnv(stack, "", {
      LOYALTY_OPS_PORT_BASE: String(PORT_BASE),
      API_PORT: "18531",
      LOG_LEVEL: "warn",
    });
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "up", "--fresh", "--no-demo", "--json"], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      // The JSON document comes once every service is healthy.
      const deadline = Date.now() + 180_000;
      while (!stdout.trim().endsWith("}") && Date.now() < deadline && child.exitCode === null)
        await new Promise((r) => setTimeout(r, 250));
      const doc = JSON.parse(stdout) as { namespace: string; fresh: boolean; figures: unknown };
      expect(doc.fresh).toBe(true);
      expect(doc.namespace).toMatch(/^demo_\d{8}_\d{6}_[0-9a-f]{4}$/);
      expect(doc.figures).toBeNull();
      expect(stderr).toContain(`fresh namespace ${doc.namespace}`);
      for (const port of PORTS) expect(await healthy(port)).toBe(true);

      // The namespace was provisioned: its schema holds the migrations.
      const db = new pg.Client({ connectionString: stack.databaseUrl });
      await db.connect();
      try {
        const r = await db.query<{ n: number }>(
          `select count(*)::int as n from ${doc.namespace}.schema_migrations`,
        );
        expect(r.rows[0]?.n).toBeGreaterThan(0);
      } finally {
        await db.end();
      }
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (const port of PORTS) expect(await healthy(port)).toBe(false);
    } finally {
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    }
  }, 240_000);
});

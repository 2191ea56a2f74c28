// `loyalty up --fresh --no-demo`: starts every service in a namespace of its own and keeps them
// running, with the console and a marketer key; SIGTERM stops them cleanly (exit 0) and nothing is
// left listening.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { type TestStack, requireStack } from "@loyalty/testkit";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { MAIN, REPO, cli, cliProcess, shell, stackEnv } from "./helpers.ts";

const bareShell = (): NodeJS.ProcessEnv => ({
  PATH: `${join(REPO, ".tools/node_modules/.bin")}:${process.env.PATH}`,
  HOME: process.env.HOME,
});

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
      CONSOLE_PORT: "18532",
      LOG_LEVEL: "warn",
    });
    // Another engine on these ports would answer the health checks below for ours.
    for (const port of PORTS) expect(await healthy(port)).toBe(false);
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
      const doc = JSON.parse(stdout) as {
        namespace: string;
        fresh: boolean;
        figures: unknown;
        hints: { sendOrder: string | null; memberShow: string | null };
        console: { url: string; keyId: string; key: string } | null;
      };
      expect(doc.fresh).toBe(true);
      expect(doc.namespace).toMatch(/^demo_\d{8}_\d{6}_[0-9a-f]{4}$/);
      expect(doc.figures).toBeNull();
      expect(stderr).toContain(`fresh namespace ${doc.namespace}`);
      for (const port of PORTS) expect(await healthy(port)).toBe(true);

      // The console (ADR 18) on CONSOLE_PORT, with a marketer key made for this run: the console's
      // server forwards it to the API, which knows it.
      expect(doc.console?.url).toBe("http://127.0.0.1:18532/");
      const who = await fetch(`${doc.console?.url}v1/session`, {
        headers: { authorization: `Bearer ${doc.console?.key}` },
      });
      expect(await who.json()).toEqual({ keyId: doc.console?.keyId, scopes: ["marketer"] });
      // Its server can backtest (as `backtest`) and publish (as `publisher`, with the stack's dev
      // key), a second approval required; and a backtest over the fresh namespace's empty history
      // prices nothing.
      const config = await fetch(`${doc.console?.url}console/config`);
      expect(await config.json()).toEqual({
        backtest: true,
        publish: { review: "required", signingKey: "local-dev" },
      });
      // The API's read model has the standard programme a moment after up published it.
      let standard = await fetch(`${doc.console?.url}v1/rulesets/standard/versions/1`, {
        headers: { authorization: `Bearer ${doc.console?.key}` },
      });
      for (let i = 0; i < 60 && standard.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 500));
        standard = await fetch(`${doc.console?.url}v1/rulesets/standard/versions/1`, {
          headers: { authorization: `Bearer ${doc.console?.key}` },
        });
      }
      expect(standard.status).toBe(200);
      const bt = await fetch(`${doc.console?.url}console/backtest`, {
        method: "POST",
        headers: { authorization: `Bearer ${doc.console?.key}`, "content-type": "application/json" },
        body: JSON.stringify({
          draft: { ...((await standard.json()) as { ruleSet: object }).ruleSet, version: 2 },
          from: "2026-01-01",
          to: "2026-02-01",
        }),
      });
      expect(bt.status).toBe(200);
      const report = (await bt.json()) as {
        history: { purchases: number };
        report: { totals: { draft: { netPoints: number } } };
      };
      expect(report.history.purchases).toBe(0);
      expect(report.report.totals.draft.netPoints).toBe(0);

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
      // The live-order hint, run as printed in a bare shell: the running engine prices the order.
      expect(doc.hints.memberShow).toBeNull();
      const send = doc.hints.sendOrder;
      if (!send) throw new Error("no live-order hint");
      expect(send).toContain(`LOYALTY_NAMESPACE=${doc.namespace} `);
      const sent = await shell(send, { env: bareShell() });
      expect(sent.code).toBe(0);
      const member = (
        JSON.parse(send.slice(send.indexOf("'") + 1, send.indexOf("' |"))) as { customerId: string }
      ).customerId;
      const nsEnv = stackEnv(stack, doc.namespace);
      // Points come once churn-alert's frontier has passed the order (ADR 12): a few seconds.
      const balance = async () => {
        const shown = await cli(["member", "show", member, "--json"], nsEnv);
        return shown.code === 0 ? (JSON.parse(shown.stdout) as { balance: number }).balance : null;
      };
      let points = await balance();
      for (let i = 0; i < 180 && !(points !== null && points > 0); i++) {
        await new Promise((r) => setTimeout(r, 500));
        points = await balance();
      }
      expect(points).toBeGreaterThan(0);

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      for (const port of PORTS) expect(await healthy(port)).toBe(false);
      expect(
        await fetch("http://127.0.0.1:18532/").then(
          () => "answered",
          () => "closed",
        ),
      ).toBe("closed");
    } finally {
      // SIGTERM first: the CLI stops its services; SIGKILL would leave them running.
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 60_000);
        await exited;
        clearTimeout(t);
      }
    }
  }, 240_000);

  it("refuses to start when a port it needs is taken (exit 1, naming it), and starts nothing", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(PORT_BASE + 2, "127.0.0.1", () => r()));
    try {
      const r = await cliProcess(["demo", "--fresh", "--limit", "10"], {
        env: stackEnv(stack, "", { LOYALTY_OPS_PORT_BASE: String(PORT_BASE), API_PORT: "18531" }),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port(s) ${PORT_BASE + 2} already in use`);
      for (const port of PORTS.filter((p) => p !== PORT_BASE + 2)) expect(await healthy(port)).toBe(false);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

// `loyalty bench e2e` on a tiny replay: the result file it writes holds the figures it measured,
// the ledger's digest and the database's CPU per service among them.
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestStack, requireStack } from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { cliProcess, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

describe("loyalty bench e2e", () => {
  it("--limit 300 --rate 20 --seconds 2 --warmup 1: every stage done, a latency sample, the file under --out", async () => {
    const out = mkdtempSync(join(tmpdir(), "loyalty-bench-"));
    const r = await cliProcess(
      [
        "bench",
        "e2e",
        ...["--limit", "300", "--rate", "20", "--seconds", "2", "--warmup", "1"],
        ...["--out", out, "--json"],
      ],
      {
        env: stackEnv(stack, "", { LOYALTY_OPS_PORT_BASE: "19541", API_PORT: "18541" }),
        timeoutMs: 300_000,
      },
    );
    if (r.code !== 0) throw new Error(`bench exited ${r.code}: ${r.stderr}`);
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    const result = JSON.parse(readFileSync(join(out, files[0] ?? ""), "utf8")) as {
      orders: number;
      ceiling: { seconds: number };
      pipeline: {
        seconds: number;
        doneAtSeconds: Record<string, number>;
        apiReadModelsDoneAtSeconds: number;
        postgresBackendCpuSeconds: number;
        postgresBackendCpuSecondsByClient: Record<string, number>;
        ledger: { digest: string; entries: number; members: number };
        churnJoinLate: number;
      };
      latency: {
        rate: number;
        seconds: number;
        samples: number;
        missing: number;
        bySecond: Array<{ samples: number }>;
        batches: Record<string, { count: number }>;
        warmup: { seconds: number; samples: number; p99Ms: number };
      };
    };
    expect(JSON.parse(r.stdout)).toMatchObject({ orders: 300, file: join(out, files[0] ?? "") });
    expect(result.orders).toBe(300);
    expect(result.ceiling.seconds).toBeGreaterThan(0);
    expect(Object.keys(result.pipeline.doneAtSeconds).sort()).toEqual(
      ["churn-alert", "ingestor", "rules-engine", "tier-evaluator"].sort(),
    );
    for (const t of Object.values(result.pipeline.doneAtSeconds))
      expect(t).toBeLessThanOrEqual(result.pipeline.seconds);
    // The latency phase starts after the API's read models have caught up with the replay.
    expect(result.pipeline.apiReadModelsDoneAtSeconds).toBeGreaterThanOrEqual(result.pipeline.seconds);
    // The ledger the replay left (before the latency phase) and the database's CPU per service.
    expect(result.pipeline.ledger.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(result.pipeline.ledger.entries).toBeGreaterThan(0);
    expect(result.pipeline.ledger.members).toBeGreaterThan(0);
    expect(result.pipeline.ledger.members).toBeLessThanOrEqual(300);
    expect(result.pipeline.churnJoinLate).toBe(0);
    expect(Object.keys(result.pipeline.postgresBackendCpuSecondsByClient)).toContain("rules-engine");
    expect(result.pipeline.postgresBackendCpuSeconds).toBeGreaterThanOrEqual(0);
    expect(result.latency).toMatchObject({ rate: 20, seconds: 2 });
    // The window's orders only: the warm-up's 20 are reported apart.
    expect(result.latency.samples + result.latency.missing).toBe(40);
    expect(result.latency.warmup).toMatchObject({ seconds: 1 });
    expect(result.latency.warmup.samples).toBeGreaterThan(0);
    expect(result.latency.warmup.samples).toBeLessThanOrEqual(20);
    // Per second of the phase, and each service's batches in it.
    expect(result.latency.bySecond).toHaveLength(2);
    expect(result.latency.bySecond.reduce((n, b) => n + b.samples, 0)).toBe(result.latency.samples);
    expect(result.latency.batches["rules-engine"]?.count).toBeGreaterThan(0);
  }, 300_000);
});

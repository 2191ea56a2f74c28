import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

// infra/bin/test-report.mjs is the test command's closing line: it must count what vitest's own
// summary leaves out (files that failed to load, packages that ran nothing) and fail on
// processes the tests left running.
const SCRIPT = new URL("../../../infra/bin/test-report.mjs", import.meta.url).pathname;
const run = promisify(execFile);

function workspace(packages: Record<string, { test: boolean; report?: unknown }>) {
  const root = mkdtempSync(join(tmpdir(), "test-report-"));
  const reports = join(root, "reports");
  mkdirSync(reports);
  for (const [name, p] of Object.entries(packages)) {
    mkdirSync(join(root, "packages", name), { recursive: true });
    writeFileSync(
      join(root, "packages", name, "package.json"),
      JSON.stringify({ name, scripts: p.test ? { test: "vitest run" } : {} }),
    );
    if (p.report) writeFileSync(join(reports, `packages__${name}.json`), JSON.stringify(p.report));
  }
  return { root, reports };
}

const file = (name: string, status: "passed" | "failed", assertions: string[], message = "") => ({
  name,
  status,
  message,
  assertionResults: assertions.map((s, i) => ({
    title: `t${i}`,
    fullName: `suite t${i}`,
    status: s,
    failureMessages: s === "failed" ? [`AssertionError: expected ${i} to be 7\n    at one.test.ts:3:1`] : [],
  })),
});

async function report(root: string, reports: string, runId: string) {
  try {
    const r = await run(process.execPath, [SCRIPT], {
      env: {
        ...process.env,
        LOYALTY_TEST_ROOT: root,
        LOYALTY_TEST_REPORTS: reports,
        LOYALTY_TEST_RUN: runId,
      },
    });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children) c.kill("SIGKILL");
});

describe("the test command's closing report", () => {
  it("counts passing tests and exits 0 when all is well", async () => {
    const { root, reports } = workspace({
      a: { test: true, report: { testResults: [file("/x/a.test.ts", "passed", ["passed", "passed"])] } },
      docs: { test: false },
    });
    const r = await report(root, reports, "run-ok");
    expect(r.out.trim().split("\n").at(-1)).toBe("2 passed, 0 failed");
    expect(r.code).toBe(0);
  });

  it("reads every package pnpm-workspace.yaml names, one outside apps, packages and services too", async () => {
    const { root, reports } = workspace({
      a: { test: true, report: { testResults: [file("/x/a.test.ts", "passed", ["passed"])] } },
    });
    writeFileSync(
      join(root, "pnpm-workspace.yaml"),
      'packages:\n  - "packages/*"\n  - "infra/observability"\n',
    );
    mkdirSync(join(root, "infra", "observability"), { recursive: true });
    writeFileSync(
      join(root, "infra", "observability", "package.json"),
      JSON.stringify({ name: "observability", scripts: { test: "vitest run" } }),
    );
    writeFileSync(
      join(reports, "infra__observability.json"),
      JSON.stringify({
        testResults: [file("/x/dashboard.int.test.ts", "failed", ["skipped"], "timed out waiting")],
      }),
    );
    const r = await report(root, reports, "run-infra");
    expect(r.out.trim().split("\n").at(-1)).toBe("1 passed, 1 failed, 1 skipped");
    expect(r.out).toMatch(/dashboard\.int\.test\.ts: the file failed outside its tests: timed out waiting/);
    expect(r.code).toBe(1);
  });

  it("counts a file that failed to load, a package without a report and one that ran nothing", async () => {
    const { root, reports } = workspace({
      a: {
        test: true,
        report: {
          testResults: [
            file("/x/a.test.ts", "passed", ["passed", "passed", "passed"]),
            file("/x/broken.test.ts", "failed", [], "SyntaxError: Unexpected token"),
            file("/x/hooks.int.test.ts", "failed", ["skipped", "skipped"], "database does not exist"),
            file("/x/one.test.ts", "failed", ["passed", "failed"]),
          ],
        },
      },
      b: { test: true },
      c: { test: true, report: { testResults: [] } },
    });
    const r = await report(root, reports, "run-bad");
    // 4 passed; failed: broken, hooks, one test, package b, package c; skipped: 2.
    expect(r.out.trim().split("\n").at(-1)).toBe("4 passed, 5 failed, 2 skipped");
    expect(r.out).toMatch(/broken\.test\.ts: the file failed outside its tests: SyntaxError/);
    expect(r.out).toMatch(/packages\/b: wrote no test report/);
    // A failed test's name and the first line of its failure, not the stack.
    expect(r.out).toMatch(/one\.test\.ts: 1 failed\n {2}suite t1: AssertionError: expected 1 to be 7\n/);
    expect(r.out).not.toMatch(/at one\.test\.ts:3:1/);
    expect(r.code).toBe(1);
  });

  it("kills and fails on a process the tests left running", async () => {
    const { root, reports } = workspace({
      a: { test: true, report: { testResults: [file("/x/a.test.ts", "passed", ["passed"])] } },
    });
    const stray = spawn("sleep", ["60"], { env: { ...process.env, LOYALTY_TEST_RUN: "run-stray" } });
    children.push(stray);
    const gone = new Promise<NodeJS.Signals | null>((resolve) => stray.once("exit", (_c, s) => resolve(s)));
    const r = await report(root, reports, "run-stray");
    expect(r.out).toMatch(
      new RegExp(`process ${stray.pid} was left running by the tests \\(killed\\): sleep 60`),
    );
    expect(r.out.trim().split("\n").at(-1)).toBe("1 passed, 1 failed");
    expect(r.code).toBe(1);
    expect(await gone).toBe("SIGKILL");
  });
});

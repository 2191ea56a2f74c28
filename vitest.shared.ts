import { join, relative } from "node:path";
import type { ViteUserConfig } from "vitest/config";

const ROOT = import.meta.dirname;

// One test policy for every package. Integration tests (*.int.test.ts) call requireStack()
// from @loyalty/testkit, which fails with instructions when the stack is unreachable; files
// run one at a time because they share one broker and one database. Under the test command
// (infra/bin/test sets LOYALTY_TEST_REPORTS) each package also writes a JSON report, from
// which infra/bin/test-report.mjs counts every test and every file that failed to load.
export function sharedTestConfig(dir: string): ViteUserConfig {
  const reports = process.env.LOYALTY_TEST_REPORTS;
  return {
    root: dir,
    test: {
      include: ["test/**/*.test.ts", "src/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 240_000,
      fileParallelism: false,
      pool: "forks",
      ...(reports
        ? {
            reporters: ["default", "json"],
            outputFile: { json: join(reports, `${relative(ROOT, dir).replace("/", "__")}.json`) },
          }
        : {}),
    },
  };
}

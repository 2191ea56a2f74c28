import type { ViteUserConfig } from "vitest/config";

// One test policy for every package. Integration tests (*.int.test.ts) call requireStack()
// from @loyalty/testkit, which fails with instructions when the stack is unreachable; files
// run one at a time because they share one broker and one database.
export function sharedTestConfig(dir: string): ViteUserConfig {
  return {
    root: dir,
    test: {
      include: ["test/**/*.test.ts", "src/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 240_000,
      fileParallelism: false,
      pool: "forks",
    },
  };
}

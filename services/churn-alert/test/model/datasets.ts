// Locates the shared data sets for tests. LOYALTY_DATASETS wins; otherwise the sibling of the
// repository root (the directory holding pnpm-workspace.yaml): <repo>/../shared/datasets.

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function repoRoot(from: string): string | undefined {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Absolute path of data set `name` (a directory under the data set root); throws with instructions if absent. */
export function datasetDir(name: string): string {
  const fromEnv = process.env.LOYALTY_DATASETS;
  const here = dirname(fileURLToPath(import.meta.url));
  const root = repoRoot(here);
  const base =
    fromEnv !== undefined && fromEnv !== ""
      ? resolve(fromEnv)
      : root !== undefined
        ? resolve(root, "..", "shared", "datasets")
        : undefined;
  const dir = base === undefined ? undefined : join(base, name);
  if (dir === undefined || !existsSync(dir)) {
    const looked =
      dir ?? `(no pnpm-workspace.yaml found above ${here}, so no default data set root could be derived)`;
    throw new Error(
      `Data set "${name}" not found at ${looked}. ` +
        "Set LOYALTY_DATASETS to the directory that contains it " +
        `(e.g. LOYALTY_DATASETS=/work/shared/datasets, which must hold ${name}/), ` +
        "or place it at <repo root>/../shared/datasets.",
    );
  }
  return dir;
}

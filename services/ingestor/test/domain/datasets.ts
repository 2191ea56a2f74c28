import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The shared datasets directory: $LOYALTY_DATASETS, else ../shared/datasets next to the
 * workspace root (the directory holding pnpm-workspace.yaml, found walking up from here).
 */
export function datasetsDir(): string {
  const fromEnv = process.env.LOYALTY_DATASETS;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`LOYALTY_DATASETS=${fromEnv} does not exist`);
    return fromEnv;
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "pnpm-workspace.yaml"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("no pnpm-workspace.yaml above the test file; set LOYALTY_DATASETS");
    dir = parent;
  }
  const found = resolve(dir, "../shared/datasets");
  if (!existsSync(found)) {
    throw new Error(`datasets not found at ${found}; set LOYALTY_DATASETS to the directory holding cdnow/`);
  }
  return found;
}

export function datasetFile(...parts: string[]): string {
  const file = join(datasetsDir(), ...parts);
  if (!existsSync(file)) throw new Error(`dataset file ${file} is missing`);
  return file;
}

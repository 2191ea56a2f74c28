// @loyalty/datasets: where the data sets the project ships live (data/ at the repository root),
// for the demo, the tests and the benchmarks. LOYALTY_DATASETS points at another folder with the
// same layout (<dir>/<data set>/<file>).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** data/ at the repository root (this file is packages/datasets/src/index.ts). */
export const SHIPPED_DATASETS = resolve(dirname(fileURLToPath(import.meta.url)), "../../../data");

/** A data set or file the project needs is not where it was looked for. Not retriable. */
export class DatasetNotFoundError extends Error {
  readonly retriable = false;
  constructor(
    readonly path: string,
    readonly fromEnv: boolean,
  ) {
    super(
      fromEnv
        ? `data set file ${path} not found: LOYALTY_DATASETS points at a folder without it; unset it to use the copy in data/`
        : `data set file ${path} not found: it ships with the repository under data/; restore it with \`git checkout -- data\``,
    );
    this.name = "DatasetNotFoundError";
  }
}

/** The folder holding the data sets: $LOYALTY_DATASETS when set, else the repository's data/. */
export function datasetsDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LOYALTY_DATASETS;
  return fromEnv ? resolve(fromEnv) : SHIPPED_DATASETS;
}

/** Absolute path of a file (or folder) of a data set, e.g. datasetFile("cdnow", "CDNOW_master.txt"). */
export function datasetFile(...parts: string[]): string {
  const path = join(datasetsDir(), ...parts);
  if (!existsSync(path)) throw new DatasetNotFoundError(path, Boolean(process.env.LOYALTY_DATASETS));
  return path;
}

/** The CDNOW files by name. */
export const cdnow = {
  master: (): string => datasetFile("cdnow", "CDNOW_master.txt"),
  sample: (): string => datasetFile("cdnow", "CDNOW_sample.txt"),
  summary: (): string => datasetFile("cdnow", "cdnow_customers_summary.csv"),
};

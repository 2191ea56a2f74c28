import { datasetFile } from "@loyalty/datasets";

/** Absolute path of data set `name` (a folder of data/ or of $LOYALTY_DATASETS). */
export function datasetDir(name: string): string {
  return datasetFile(name);
}

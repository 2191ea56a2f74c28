export { datasetFile } from "@loyalty/datasets";

export * from "./model/index.ts";
export {
  type ChurnConfig,
  type ChurnSettings,
  DEFAULT_SETTINGS,
  churnConfigSchema,
  settingsFrom,
} from "./config.ts";
export {
  type ChurnCard,
  type PopulationReport,
  churnCard,
  fitAsOf,
  populationReport,
  requestRefit,
} from "./queries.ts";
export { type FitRecord, listFits, loadFit } from "./store/fits.ts";

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
export {
  type CalibrationPeriods,
  type CalibrationReport,
  CalibrationRequestError,
  calibrationReport,
  calibrationRoute,
  checkPeriods,
} from "./calibration.ts";
export { MEMBER_ID, churnCardRoute } from "./churn-card-route.ts";
export {
  type CalibrationFigures,
  type CalibrationMember,
  type CalibrationOptions,
  type CalibrationTotals,
  type FrequencyBucket,
  type MemberCalibration,
  calibrationFigures,
  holdoutPurchaseDays,
  instantOfWallClock,
} from "./model/calibration.ts";
export { ChurnNoDataError, ChurnStateError } from "./errors.ts";

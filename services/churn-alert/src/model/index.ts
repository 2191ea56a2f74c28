export {
  type ActionLevel,
  type AlertConfig,
  type AlertDecision,
  type AlertInput,
  type AlertState,
  type ChurnAlert,
  type ChurnScore,
  INITIAL_ALERT_STATE,
  actionLevel,
  alertReason,
  decideAlert,
} from "./alerts.ts";
export {
  type BgNbdFit,
  type BgNbdFitOptions,
  type BgNbdObservation,
  type BgNbdParams,
  type ExpectedPurchasesOptions,
  type WeightedObservation,
  bgNbdLogLikelihood,
  expectedPurchases,
  expectedPurchasesUnconditional,
  fitBgNbd,
  groupObservations,
  probabilityAlive,
} from "./bgnbd.ts";
export {
  MODEL_ERROR_KINDS,
  type ModelErrorKind,
  ModelNumericError,
  asModelNumericError,
} from "./errors.ts";
export { DAY_MS, WEEK_MS, dayIndexAt, dayKeyAt, wallClockMs } from "./calendar.ts";
export {
  type ClvMember,
  type ClvOptions,
  type GammaGammaFit,
  type GammaGammaFitOptions,
  type GammaGammaParams,
  type SpendObservation,
  customerLifetimeValue,
  expectedAverageValue,
  fitGammaGamma,
  gammaGammaLogLikelihood,
} from "./gamma-gamma.ts";
export {
  type CancellationEvent,
  type DayAggregate,
  type FeatureOptions,
  type MemberEvent,
  type MemberFeatures,
  type MemberState,
  type OrderRecord,
  type PendingAdjustment,
  type PurchaseEvent,
  type RefundEvent,
  applyEvent,
  applyEvents,
  createMemberState,
  memberFeatures,
} from "./member-state.ts";
export {
  type BfgsOptions,
  type BfgsResult,
  type MinimizeMethod,
  type MinimizeOptions,
  type MinimizeResult,
  type NelderMeadOptions,
  type NelderMeadResult,
  type Objective,
  type ValueAndGradient,
  bfgs,
  minimize,
  nelderMead,
} from "./optimize.ts";
export {
  type RfmInput,
  type RfmScore,
  type RfmSegment,
  quintileScores,
  rfmSegment,
  scoreRfm,
} from "./rfm.ts";
export { type Hyp2f1Options, digamma, hyp2f1, lbeta, lgamma, logAddExp, logistic } from "./special.ts";
export {
  type MemberScore,
  type MemberScoreOptions,
  type MemberScoreResult,
  scoreMember,
  tryScoreMember,
} from "./score.ts";

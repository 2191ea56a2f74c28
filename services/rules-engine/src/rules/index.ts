// Public API of the rules domain core. See FORMAT.md for the rule format.
export type {
  Award,
  AwardKind,
  AwardPricing,
  CampaignTrigger,
  Consumption,
  Denial,
  Evaluation,
  LimitKind,
  MemberUsage,
  RuleRef,
  UsageSnapshot,
} from "./evaluate.ts";
export { evaluate, toEpochMs } from "./evaluate.ts";
export type { CompiledRule, CompiledRuleSet, Predicate, TriggerIndex } from "./compile.ts";
export { CompiledRuleSetCache, candidates, compileCondition, compileRuleSet } from "./compile.ts";
export type { ValidationError, ValidationResult } from "./validate.ts";
export { LIMITS, validateRuleSet } from "./validate.ts";
export type {
  ClawbackResult,
  RecordedAward,
  Refund,
  RefundState,
  RefundedOrder,
  Reversal,
} from "./clawback.ts";
export type { AmountLimits } from "./amounts.ts";
export { DEFAULT_AMOUNT_LIMITS, amountLimitProblems, amountLimitsOf } from "./amounts.ts";
export { AmountOutOfRangeError, addPoints, toSafePoints } from "./arith.ts";
export { clawback } from "./clawback.ts";
export type { RuleStats, SimulatedEvent, SimulationOptions, SimulationReport } from "./simulate.ts";
export { simulate } from "./simulate.ts";
export type {
  CounterInput,
  MemberFacts,
  MemberInput,
  OrderFacts,
  OrderInput,
  OrderLineInput,
} from "./facts.ts";
export { buildMemberEventFacts, buildMemberFacts, buildOrderFacts } from "./facts.ts";
export { FACTS, lookupFact } from "./catalogue.ts";
export type * from "./types.ts";

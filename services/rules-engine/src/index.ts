// Public API of the rules engine package: the rule format (src/rules), the earning pipeline
// (src/engine), rule-set files and topic helpers, and the ledger checks. Importing it never
// starts the service (that is src/main.ts).
export * from "./rules/index.ts";
export { simulateDraft, type DraftRun } from "./engine/draft.ts";
export {
  type Admission,
  type Candidate,
  type PublicationAudit,
  type PublishedVersion,
  RuleSetRegistry,
  checksumOf,
} from "./engine/registry.ts";
export { entryIdOf, programmeDay, stableId } from "./engine/process.ts";
export { expirySourceOf } from "./engine/model.ts";
export { memberPartitioner } from "./pipeline.ts";
export {
  DEFAULT_PROGRAMME,
  type ProgrammeFile,
  type RuleSetSource,
  STANDARD_RULES_DIR,
  readRuleSetSource,
  repoRoot,
} from "./rulesets/files.ts";
export {
  type PublicationRecord,
  latestById,
  normalisePublication,
  publication,
  readPublicationRecords,
  readPublications,
  publishRuleSet,
  sendPublication,
  signedPublication,
} from "./rulesets/topic.ts";
export {
  type KeyPairPem,
  type Signer,
  SigningKeyError,
  type TrustedKeys,
  type Verification,
  canonicalJson,
  digestOf,
  generateSigningKeyPair,
  keyIdOf,
  parsePublicKeys,
  signPublication,
  signerOf,
  signingKeyFromEnv,
  statementBytes,
  verifyPublication,
} from "./rulesets/signing.ts";
export { type LedgerDifference, type LedgerReport, verifyLedger } from "./store/verify.ts";
export {
  BacktestError,
  type BacktestInput,
  type BacktestReport,
  type BacktestRuleRow,
  type BudgetUse,
  type BudgetWeek,
  type MemberDifference,
  type SidePoints,
  type SideTotals,
  TOP_MEMBERS,
  type TierMove,
  backtest,
} from "./rules/backtest.ts";
export { RULESET_SCHEMA_ID, ruleSetJsonSchema } from "./rules/schema.ts";
export {
  type BacktestSide,
  backtestEvents,
  backtestReport,
  backtestSide,
} from "./rules/backtest.ts";
export { type ParallelBacktest, backtestParallel } from "./rules/backtest-parallel.ts";
export {
  HISTORY_GROUP_PREFIX,
  type HistoryRecord,
  type ReadHistoryOptions,
  decodeHistoryRecord,
  historyEnds,
  type TopicHistory,
  readTopicHistory,
} from "./rulesets/history.ts";
export {
  type PublishOutcome,
  PublishRefusedError,
  publishNextVersion,
} from "./rulesets/publish.ts";

// The ingestor's pure domain core: bytes -> validated upstream events -> canonical events.
// No I/O, no clock: time is always passed in.

export { type Accepted, type Rejection, type Result, accept, reject } from "./result.ts";
export {
  type Decimal,
  type RoundingMode,
  ROUNDING_MODES,
  divRound,
  formatDecimal,
  majorToMinor,
  parseDecimal,
} from "./money.ts";
export { CURRENCY_CODES, isCurrency, minorUnits } from "./currencies.ts";
export {
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  FORBIDDEN_KEYS,
  type JsonBytes,
  decodeJson,
  findForbiddenKey,
  scanDepth,
} from "./decode.ts";
export { MAX_EVENT_TIME, MIN_EVENT_TIME, parseIsoTimestamp } from "./timestamps.ts";
export { ORDER_EVENT_TYPES, validateOrder } from "./validate-order.ts";
export { MEMBER_EVENT_TYPES, isValidBirthday, validateMember } from "./validate-member.ts";
export { autoEnrolmentEventId, memberEventId, orderEventId, stableId } from "./event-id.ts";
export { type MemberIdPolicy, SHARED_MEMBER_IDS, memberIdFor, parseMemberIdPolicy } from "./member-id.ts";
export {
  type FxConfig,
  type FxRate,
  type FxRateConfig,
  type FxTable,
  allocateConverted,
  compileFx,
  convertMinor,
  rateAt,
} from "./fx.ts";
export {
  ENROLLED_VIA_AUTO,
  ENROLLED_VIA_REGISTRATION,
  type NormaliseOrderContext,
  autoEnrolment,
  normaliseMember,
  normaliseOrder,
} from "./normalise.ts";
export {
  type BookLine,
  type BookOrder,
  type BookOutcome,
  type HeldEvent,
  type OrderSlot,
  type Transition,
  applyOrderEvent,
  applyPlaced,
  applyRefund,
  emptySlot,
  expireHeld,
  nextExpiry,
  orderKey,
  releaseHeld,
} from "./order-book.ts";
export {
  CDNOW_SOURCE,
  type ReplayFormat,
  type ReplayRecord,
  type ReplayState,
  type UpstreamOrderJson,
  type UpstreamOrderLineJson,
  createReplayState,
  detectFormat,
  parseLine,
  parseText,
} from "./replay-formats.ts";
export {
  type IngestChanges,
  type IngestCounts,
  type IngestRules,
  type IngestState,
  type MemberRow,
  type Output,
  type Parsed,
  type SourceRecord,
  expireHolds,
  ingestRecord,
  ingestState,
  noChanges,
  noCounts,
} from "./ingest-task.ts";

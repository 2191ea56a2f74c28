// Every rejection carries one of these codes; docs/topics.md explains each.
export const DLQ_REASONS = {
  MALFORMED_JSON: "payload is not valid JSON",
  MALFORMED_AVRO: "payload is framed as Avro but cannot be decoded",
  UNKNOWN_SCHEMA_ID: "payload names a schema id the registry does not know",
  SCHEMA_VIOLATION: "payload does not match the topic's schema",
  EMPTY_PAYLOAD: "message has no value",
  OVERSIZE_PAYLOAD: "payload exceeds the configured maximum size",
  FORBIDDEN_KEY: "payload contains a prototype key (__proto__, constructor, prototype)",
  TOO_DEEP: "payload nesting exceeds the allowed depth",
  MISSING_CUSTOMER_ID: "event has no customer id",
  UNKNOWN_CUSTOMER: "customer is not enrolled and auto-enrolment is off",
  UNKNOWN_CURRENCY: "currency is not ISO 4217 or has no exchange rate",
  INVALID_AMOUNT: "amount is negative, not an integer, or out of range",
  LINES_MISMATCH: "line items do not add up to the total",
  INVALID_TIMESTAMP: "timestamp is missing or out of range",
  REFUND_EXCEEDS_ORDER: "refund is larger than what is left of its order",
  ORPHAN_REFUND_TIMEOUT: "refund of an order never seen within the hold period",
  UNKNOWN_ORDER_LINE: "refund names a line the order does not have",
  AMOUNT_LIMIT: "an award would exceed the programme's points per entry or per member per day",
  RULESET_UNSIGNED: "rule-set publication carries no signature, key id, publisher or digest",
  RULESET_UNKNOWN_KEY: "rule-set publication is signed by a key not in RULES_PUBLIC_KEYS",
  RULESET_BAD_SIGNATURE: "rule-set publication's digest or signature does not verify",
  RULESET_REPLAYED: "rule-set version already running with other content, or an older version",
  RULESET_VERSION_NOT_GREATER: "rule-set version is not greater than the version the engine runs",
  RULESET_INVALID: "signed rule set fails validation (checksum, JSON, rules, id or version)",
  PROCESSING_FAILED: "a permanent error while processing the message",
  RETRIES_EXHAUSTED: "a transient error persisted past the retry budget",
} as const;

export type DlqReasonCode = keyof typeof DLQ_REASONS;

export function isDlqReasonCode(code: string): code is DlqReasonCode {
  return Object.hasOwn(DLQ_REASONS, code);
}

import type { DlqReasonCode } from "@loyalty/contracts";

/** Base of the engine's errors: every error says whether trying again can help. */
export class LoyaltyError extends Error {
  readonly retriable: boolean;
  constructor(message: string, opts: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.retriable = opts.retriable;
  }
}

/** A transient failure (broker, database or registry unavailable): retried with backoff. */
export class TransientError extends LoyaltyError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

/** A message that can never be processed: dead-lettered with its reason code. */
export class PoisonMessageError extends LoyaltyError {
  constructor(
    readonly code: DlqReasonCode,
    message: string,
    cause?: unknown,
  ) {
    super(message, { retriable: false, cause });
  }
}

export class ConfigError extends LoyaltyError {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`, { retriable: false });
  }
}

const TRANSIENT_PG_CODES = new Set(["40001", "40P01", "57P01", "57P03", "53300", "08000", "08003", "08006"]);
const TRANSIENT_NET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

/**
 * librdkafka errors retrying cannot mend (by the name the client gives an error code, `type`):
 * authorisation, authentication, a record or request too large, an invalid argument or
 * configuration, fencing. Every other error of the client is transient for the runtime (a
 * broker, coordinator or leader away, a timeout, a transaction to abort and begin again).
 */
const PERMANENT_KAFKA_ERRORS = new Set([
  "ERR__INVALID_ARG",
  "ERR__INVALID_TYPE",
  "ERR__NOT_IMPLEMENTED",
  "ERR__UNSUPPORTED_FEATURE",
  "ERR__FENCED",
  "ERR__AUTHENTICATION",
  "ERR_SASL_AUTHENTICATION_FAILED",
  "ERR_TOPIC_AUTHORIZATION_FAILED",
  "ERR_GROUP_AUTHORIZATION_FAILED",
  "ERR_CLUSTER_AUTHORIZATION_FAILED",
  "ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
  "ERR_MSG_SIZE_TOO_LARGE",
  "ERR__MSG_SIZE_TOO_LARGE",
  "ERR_RECORD_LIST_TOO_LARGE",
  "ERR_INVALID_CONFIG",
  "ERR_UNSUPPORTED_VERSION",
  "ERR_PRODUCER_FENCED",
  "ERR_INVALID_PRODUCER_EPOCH",
  "ERR_TRANSACTION_COORDINATOR_FENCED",
  "ERR__FATAL",
]);

/** An error of @confluentinc/kafka-javascript: a KafkaJS-style error or librdkafka's own. */
function kafkaClientRetriable(e: {
  type?: unknown;
  fatal?: unknown;
  isFatal?: unknown;
  retriable?: unknown;
  isRetriable?: unknown;
  abortable?: unknown;
  isTxnRequiresAbort?: unknown;
  code?: unknown;
}): boolean | null {
  const fatal = e.fatal ?? e.isFatal;
  if (typeof fatal !== "boolean" || typeof e.code !== "number") return null;
  if (fatal) return false;
  if (e.retriable === true || e.isRetriable === true) return true;
  if (e.abortable === true || e.isTxnRequiresAbort === true) return true;
  return !(typeof e.type === "string" && PERMANENT_KAFKA_ERRORS.has(e.type));
}

/**
 * Classifies errors from our own hierarchy, the Kafka clients (kafkajs sets `retriable`; the
 * confluent client sets it for its transactional producer only, so its error code decides), pg
 * and the network.
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof LoyaltyError) return err.retriable;
  if (typeof err !== "object" || err === null) return false;
  const e = err as { retriable?: unknown; code?: unknown; name?: unknown };
  const kafka = kafkaClientRetriable(e);
  if (kafka !== null) return kafka;
  if (typeof e.retriable === "boolean") return e.retriable;
  if (typeof e.code === "string" && (TRANSIENT_PG_CODES.has(e.code) || TRANSIENT_NET_CODES.has(e.code)))
    return true;
  return e.name === "KafkaJSConnectionError" || e.name === "KafkaJSRequestTimeoutError";
}

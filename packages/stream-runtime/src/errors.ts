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

/** Classifies errors from our own hierarchy, kafkajs (which sets `retriable`), pg and the network. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof LoyaltyError) return err.retriable;
  if (typeof err !== "object" || err === null) return false;
  const e = err as { retriable?: unknown; code?: unknown; name?: unknown };
  if (typeof e.retriable === "boolean") return e.retriable;
  if (typeof e.code === "string" && (TRANSIENT_PG_CODES.has(e.code) || TRANSIENT_NET_CODES.has(e.code)))
    return true;
  return e.name === "KafkaJSConnectionError" || e.name === "KafkaJSRequestTimeoutError";
}

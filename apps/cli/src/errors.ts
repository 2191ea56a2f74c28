// The CLI's errors and exit codes. Every failure a command can meet is one of these classes, so
// the top level maps it to a documented exit code and one line on stderr; anything else is a bug
// or an unexpected failure of a dependency and exits 1 with its message.

/** Exit codes, documented in `loyalty --help` and apps/cli/README.md. */
export const EXIT = {
  /** The command did what it was asked. */
  ok: 0,
  /** It failed, or a check it runs failed (ledger differences, an invalid rule set, a member not known). */
  failure: 1,
  /** The command line is wrong: unknown command or option, a missing or malformed argument. */
  usage: 2,
  /** Kafka, the schema registry, PostgreSQL or Redis could not be reached: try again once it runs. */
  unavailable: 3,
  /** Stopped by Ctrl-C (SIGINT) or SIGTERM before it finished (`up` stopped by Ctrl-C is 0: that is how it ends). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class CliError extends Error {
  abstract readonly exitCode: ExitCode;
  /** Whether the same command may succeed if run again unchanged. */
  abstract readonly retriable: boolean;
}

/** A malformed command line: names the flag or argument and what it expects. */
export class UsageError extends CliError {
  readonly exitCode = EXIT.usage;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A check that ran and found a problem (its details have been printed already). */
export class CheckFailedError extends CliError {
  readonly exitCode = EXIT.failure;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "CheckFailedError";
  }
}

/** What was asked for does not exist: a member, a namespace's state. */
export class NotFoundError extends CliError {
  readonly exitCode = EXIT.failure;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
  }
}

/** A part of the stack did not answer. */
export class StackUnavailableError extends CliError {
  readonly exitCode = EXIT.unavailable;
  readonly retriable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StackUnavailableError";
  }
}

/** A service of the engine failed while the CLI ran it (up, demo, bench). */
export class ServiceFailedError extends CliError {
  readonly exitCode = EXIT.failure;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "ServiceFailedError";
  }
}

/** A port the engine needs is taken (another engine runs): wait for it, or move ours. */
export class PortBusyError extends CliError {
  readonly exitCode = EXIT.failure;
  readonly retriable = true;
  constructor(readonly ports: number[]) {
    super(
      `port(s) ${ports.join(", ")} already in use (another engine running?): stop it, wait, or set LOYALTY_OPS_PORT_BASE / API_PORT / CONSOLE_PORT`,
    );
    this.name = "PortBusyError";
  }
}

/** Ctrl-C or SIGTERM arrived while the command was working; what it started has been stopped. */
export class InterruptedError extends CliError {
  readonly exitCode = EXIT.interrupted;
  readonly retriable = true;
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = "InterruptedError";
  }
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENOTFOUND", "ETIMEDOUT"]);

/**
 * Whether an error from pg, kafkajs or fetch means "could not reach the server": connection codes
 * on the error or anywhere in its cause chain, or kafkajs's connection errors.
 */
export function isConnectionFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === "object" && depth < 5; depth++) {
    const x = e as { code?: unknown; name?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof x.code === "string" && CONNECTION_CODES.has(x.code)) return true;
    if (x.name === "KafkaJSConnectionError" || x.name === "KafkaJSBrokerNotFound") return true;
    e = x.cause ?? x.originalError;
  }
  return false;
}

/** PostgreSQL: undefined_table (the namespace's schema lacks a service's tables). */
export function isMissingTable(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "42P01";
}

// Typed failures of the model's numerics. The model layer has no dependencies, so this does not extend
// stream-runtime's LoyaltyError, but it has the same shape (`retriable`, `cause`), which is what
// `isRetriable` reads.

/**
 * What went wrong:
 * - `domain`: an argument outside the function's domain (a parameter <= 0 or NaN, |z| >= 1, a pole).
 * - `no-convergence`: a series did not meet its stopping rule within its cap on terms.
 * - `overflow`: an intermediate or the result is not finite.
 * - `non-finite`: a score came out NaN/±Infinity or not a safe integer amount of money.
 * - `unexpected`: any other error while scoring (kept as `cause`).
 */
export type ModelErrorKind = "domain" | "no-convergence" | "overflow" | "non-finite" | "unexpected";

export const MODEL_ERROR_KINDS: readonly ModelErrorKind[] = [
  "domain",
  "no-convergence",
  "overflow",
  "non-finite",
  "unexpected",
];

/**
 * A model quantity could not be evaluated for these parameters. Never retriable: the same parameters
 * fail the same way (the computation is deterministic).
 */
export class ModelNumericError extends Error {
  readonly retriable = false;
  constructor(
    readonly kind: ModelErrorKind,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ModelNumericError";
  }
}

/** `err` as a ModelNumericError: itself if it is one, else wrapped as `unexpected` with it as cause. */
export function asModelNumericError(err: unknown): ModelNumericError {
  if (err instanceof ModelNumericError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ModelNumericError("unexpected", `model evaluation failed: ${message}`, err);
}

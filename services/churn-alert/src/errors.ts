import { LoyaltyError } from "@loyalty/stream-runtime";

/** churn-alert's own tables are not in a state its code can work from (a missing migration, a bug). */
export class ChurnStateError extends LoyaltyError {
  constructor(message: string) {
    super(message, { retriable: false });
  }
}

/** A read-side question the data cannot answer yet (e.g. a fit as of a day before any purchase). */
export class ChurnNoDataError extends LoyaltyError {
  constructor(message: string) {
    super(message, { retriable: false });
  }
}

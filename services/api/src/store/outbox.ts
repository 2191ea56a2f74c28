// The API writes the same ledger as the rules engine, and its movements go out through the same
// outbox (the relay is the API's: src/outbox-relay.ts).
export { enqueueMovements as enqueue } from "@loyalty/rules-engine";

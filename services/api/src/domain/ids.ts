import { createHash } from "node:crypto";

import { stableId } from "@loyalty/contracts";

// Ledger entry ids are the rules engine's: both write the same ledger.
export { entryIdOf } from "@loyalty/rules-engine";

/** A redemption's id: from the caller's key and Idempotency-Key, so a retry names the same one. */
export const redemptionIdOf = (keyId: string, idempotencyKey: string) =>
  stableId("rdm", [keyId, idempotencyKey]);

export const adjustmentIdOf = (keyId: string, idempotencyKey: string) =>
  stableId("adj", [keyId, idempotencyKey]);

/**
 * Source event of the n-th expiry of a lot (n = 0 normally; a cancelled redemption can put
 * points back into an already expired lot, which then expires again). Derived from the lot id
 * only, so a re-run after a crash names the same entry id, which the primary key refuses twice.
 */
export const expirySourceOf = (lotId: string, n: number) =>
  n === 0 ? `expiry:${lotId}` : `expiry:${lotId}:${n}`;

/** Canonical JSON (sorted keys) → sha256: "the same request" for idempotency. */
export function requestHash(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value), "utf8").digest("hex");
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(",")}}`;
}

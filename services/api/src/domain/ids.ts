import { createHash } from "node:crypto";

import { stableId } from "@loyalty/contracts";

// Ledger entry ids are the rules engine's (the ledger's only writer); the API's tests name entries
// with them.
export { entryIdOf, expirySourceOf } from "@loyalty/rules-engine";

/**
 * A redemption's id, which is also its ledger command's id: from the caller's key and
 * Idempotency-Key, so a retry names the same one (and the engine applies it once).
 */
export const redemptionIdOf = (keyId: string, idempotencyKey: string) =>
  stableId("rdm", [keyId, idempotencyKey]);

export const adjustmentIdOf = (keyId: string, idempotencyKey: string) =>
  stableId("adj", [keyId, idempotencyKey]);

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

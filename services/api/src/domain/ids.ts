import { createHash } from "node:crypto";

import { stableId } from "@loyalty/contracts";

// Ledger entry ids are the rules engine's: both write the same ledger (both expire lots).
export { entryIdOf, expirySourceOf } from "@loyalty/rules-engine";

/** A redemption's id: from the caller's key and Idempotency-Key, so a retry names the same one. */
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

import { createHash } from "node:crypto";

/**
 * The engine's stable ids: <tag>-<first 32 hex chars of sha256(part NUL part ...)>. Derived
 * from an event's source identity, never random and never time-based, so a retry or a replay
 * names the same event and every consumer can deduplicate on it.
 */
export function stableId(tag: string, parts: readonly string[]): string {
  return `${tag}-${createHash("sha256").update(parts.join("\u0000"), "utf8").digest("hex").slice(0, 32)}`;
}

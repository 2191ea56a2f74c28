// The API's read model of loyalty.rules.v1 (ADR 18): the marketers' console lists rule sets and
// versions from it, so the API never reads the rules engine's tables. A consumer in the API's
// group `<SERVICE_NAME>.rules` reads the compacted topic from the beginning and stores every
// publication in api_rule_sets (one row per rule set and version, first one kept): offsets are
// committed after the rows, so a crash reads the records again and the insert ignores them.
//
// The read model shows what was published, signed or not; whether the rules engine accepted a
// version (RULES_PUBLIC_KEYS, version order) is the engine's decision and is not repeated here.
// A record that cannot be decoded is skipped with a warning: the rules engine dead-letters it.
import { type RuleSetPublished, isRegistryFramed } from "@loyalty/contracts";
import { normalisePublication } from "@loyalty/rules-engine";
import { type ConsumedMessage, type Logger, TransientError } from "@loyalty/stream-runtime";
import { type PublicationRow, storePublications } from "./store/console.ts";
import type { Db } from "./store/db.ts";

export type Decoded = { ok: true; publication: RuleSetPublished } | { ok: false; reason: string };

/** Pure: a decoded record → its row, or why it is not one. */
export function publicationRow(
  m: Pick<ConsumedMessage, "partition" | "offset">,
  d: Decoded,
): { ok: true; row: PublicationRow } | { ok: false; reason: string } {
  if (!d.ok) return d;
  const p = d.publication;
  let ruleSet: unknown;
  try {
    ruleSet = JSON.parse(p.ruleSetJson);
  } catch {
    return { ok: false, reason: `rule set ${p.ruleSetId} v${p.version}: ruleSetJson is not JSON` };
  }
  if (typeof ruleSet !== "object" || ruleSet === null || Array.isArray(ruleSet))
    return { ok: false, reason: `rule set ${p.ruleSetId} v${p.version}: ruleSetJson is not an object` };
  if (!Number.isSafeInteger(p.version) || p.version < 1 || !Number.isFinite(p.publishedAt))
    return { ok: false, reason: `rule set ${p.ruleSetId}: bad version or publishedAt` };
  return {
    ok: true,
    row: {
      ruleSetId: p.ruleSetId,
      version: p.version,
      publishedAt: p.publishedAt,
      publisher: p.publisher,
      keyId: p.keyId,
      signed: p.signature !== null && p.publisher !== null && p.keyId !== null,
      checksum: p.checksum,
      ruleSet,
      partition: m.partition,
      offset: m.offset,
    },
  };
}

export interface Decoder {
  decode<T>(bytes: Buffer): Promise<T>;
}

/** Decodes one record; a registry that does not answer is retried (TransientError), never skipped. */
export async function decodePublication(codec: Decoder, value: Buffer | null): Promise<Decoded> {
  if (value === null || value.length === 0) return { ok: false, reason: "record has no value" };
  if (!isRegistryFramed(value)) return { ok: false, reason: "not registry-framed Avro" };
  try {
    return { ok: true, publication: normalisePublication(await codec.decode<RuleSetPublished>(value)) };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const status = (err as { status?: unknown }).status;
    if (status !== 404 && !/not found/i.test(text))
      if (typeof status === "number" || /ECONN|ETIMEDOUT|EAI_AGAIN|socket|network|fetch failed/i.test(text))
        throw new TransientError(`schema registry unavailable: ${text}`, err);
    return { ok: false, reason: text };
  }
}

/** The batch handler of the rules consumer: decode, store, then the runner commits the offsets. */
export function rulesReadModelHandler(db: Db, codec: Decoder, logger: Logger) {
  return async (messages: ConsumedMessage[]): Promise<void> => {
    const rows: PublicationRow[] = [];
    for (const m of messages) {
      const out = publicationRow(m, await decodePublication(codec, m.value));
      if (out.ok) rows.push(out.row);
      else
        logger.warn(
          { partition: m.partition, offset: m.offset, reason: out.reason },
          "rules read model: record skipped",
        );
    }
    const stored = await storePublications(db, rows);
    if (stored > 0) logger.info({ stored, read: messages.length }, "rules read model: publications stored");
  };
}

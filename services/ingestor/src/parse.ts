// decode + validate: an upstream record's bytes -> a validated event with its stable id, or the
// reason it can never be one. JSON and validation are pure (src/domain); registry-framed Avro
// goes through the codec.
import { type AvroCodec, type Topics, isRegistryFramed } from "@loyalty/contracts";
import type { IngestorSettings } from "./config.ts";
import {
  type Parsed,
  type Result,
  type SourceRecord,
  decodeJson,
  memberEventId,
  orderEventId,
  validateMember,
  validateOrder,
} from "./domain/index.ts";

export async function parseRecord(
  m: SourceRecord,
  topics: Topics,
  codec: AvroCodec,
  limits: IngestorSettings["limits"],
): Promise<Parsed> {
  const value: Result<unknown> =
    m.value && isRegistryFramed(m.value)
      ? await decodeAvro(m.value, codec, limits)
      : decodeJson(m.value, limits);
  if (!value.ok) return { kind: "reject", code: value.code, reason: value.reason };
  if (m.topic === topics.orders.name) {
    const v = validateOrder(value.value);
    return v.ok
      ? { kind: "order", event: v.value, eventId: orderEventId(v.value) }
      : { kind: "reject", code: v.code, reason: v.reason };
  }
  const v = validateMember(value.value);
  return v.ok
    ? { kind: "member", event: v.value, eventId: memberEventId(v.value) }
    : { kind: "reject", code: v.code, reason: v.reason };
}

async function decodeAvro(
  buf: Buffer,
  codec: AvroCodec,
  limits: IngestorSettings["limits"],
): Promise<Result<unknown>> {
  if (buf.length > limits.maxBytes) {
    return {
      ok: false,
      code: "OVERSIZE_PAYLOAD",
      reason: `${buf.length} bytes exceed the limit of ${limits.maxBytes}`,
    };
  }
  try {
    return { ok: true, value: await codec.decode<unknown>(buf) };
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    // The registry answers 404 for an id it does not know; anything else is a broken body.
    if (/not found|40403|404/i.test(msg))
      return {
        ok: false,
        code: "UNKNOWN_SCHEMA_ID",
        reason: `schema id ${buf.readInt32BE(1)} is unknown to the registry`,
      };
    if ((err as { retriable?: boolean }).retriable) throw err;
    return {
      ok: false,
      code: "MALFORMED_AVRO",
      reason: `cannot decode Avro with schema id ${buf.readInt32BE(1)}: ${msg}`,
    };
  }
}

// decode + validate: an upstream record's bytes -> a validated event with its stable id, or the
// reason it can never be one. JSON and validation are pure (src/domain); registry-framed Avro
// goes through the codec.
import { type AvroCodec, type Topics, isRegistryFramed } from "@loyalty/contracts";
import { TransientError, isRetriable } from "@loyalty/stream-runtime";
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
    const msg = err instanceof Error ? err.message : String(err);
    const id = buf.readInt32BE(1);
    // The registry client's ResponseError carries the HTTP status. Match on it, not on the
    // message: Apicurio answers an unknown id with "No content with ID '7' was found." (404,
    // error_code 40403), which a /not found/ test missed, so such records were dead-lettered as
    // MALFORMED_AVRO (found by test/hostile-members.int.test.ts).
    const status = (err as { status?: unknown }).status;
    if (status === 404 || /\b40403\b/.test(msg))
      return { ok: false, code: "UNKNOWN_SCHEMA_ID", reason: `schema id ${id} is unknown to the registry` };
    // The registry down, overloaded or refusing our credentials is not the record's fault: retried,
    // never dead-lettered.
    if (
      (typeof status === "number" && (status >= 500 || [401, 403, 408, 429].includes(status))) ||
      isRetriable(err)
    )
      throw new TransientError(`schema registry failed to resolve schema id ${id}: ${msg}`, err);
    if (typeof status === "number")
      return {
        ok: false,
        code: "UNKNOWN_SCHEMA_ID",
        reason: `the registry refused schema id ${id} (HTTP ${status})`,
      };
    return {
      ok: false,
      code: "MALFORMED_AVRO",
      reason: `cannot decode Avro with schema id ${id}: ${msg}`,
    };
  }
}

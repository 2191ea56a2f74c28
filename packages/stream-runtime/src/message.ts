import type { KafkaMessage } from "kafkajs";

/** One header value as it came: its bytes (null for a header sent without a value). */
export interface HeaderEntry {
  key: string;
  value: Buffer | null;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Headers as UTF-8 text, repeated values joined with commas: for reading, not for keeping. */
  headers: Record<string, string>;
  /**
   * The headers as they came, one entry per value, as bytes: what a dead letter keeps. Absent on
   * a record rebuilt from storage that kept only `headers`; a dead letter then keeps those.
   */
  headerEntries?: readonly HeaderEntry[];
  /** Record timestamp (CreateTime: the producer's event time). */
  timestamp: number;
}

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined;

const bytesOf = (v: Buffer | string): Buffer => (typeof v === "string" ? Buffer.from(v, "utf8") : v);

/**
 * kafkajs's headers, one entry per value, bytes untouched. kafkajs groups a repeated header's
 * values under its key (in order), keys in the order of their first appearance.
 */
export function headerEntries(headers: Readonly<Record<string, HeaderValue>> | undefined): HeaderEntry[] {
  const out: HeaderEntry[] = [];
  for (const [key, v] of Object.entries(headers ?? {})) {
    if (v === undefined || v === null) out.push({ key, value: null });
    else if (Array.isArray(v))
      for (const one of v) out.push({ key, value: one === null ? null : bytesOf(one) });
    else out.push({ key, value: bytesOf(v) });
  }
  return out;
}

export function toConsumed(topic: string, partition: number, m: KafkaMessage): ConsumedMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    headers[k] = Array.isArray(v) ? v.map(String).join(",") : String(v);
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key ?? null,
    value: m.value ?? null,
    headers,
    headerEntries: headerEntries(m.headers),
    timestamp: Number(m.timestamp),
  };
}

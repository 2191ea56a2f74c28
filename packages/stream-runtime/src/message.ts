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
 * What came off the wire: bytes or text. kafkajs 2.2.4 groups repeated headers into a plain
 * object and tests `obj[key] === undefined`, so a header named after an Object.prototype member
 * (toString, constructor, hasOwnProperty, __proto__) arrives as [<inherited member>, value]; the
 * inherited member is not a header value and is dropped (a dead letter could not encode it, and
 * the consumer crashed on such a record: found by test/hostile-members.int.test.ts in the ingestor).
 */
const isWireValue = (v: unknown): v is Buffer | string => Buffer.isBuffer(v) || typeof v === "string";

/** Sets an own property, so that a "__proto__" header is kept as a header, not a prototype. */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * kafkajs's headers, one entry per value, bytes untouched. kafkajs groups a repeated header's
 * values under its key (in order), keys in the order of their first appearance.
 */
export function headerEntries(headers: Readonly<Record<string, HeaderValue>> | undefined): HeaderEntry[] {
  const out: HeaderEntry[] = [];
  for (const [key, v] of Object.entries(headers ?? {})) {
    if (v === undefined || v === null) out.push({ key, value: null });
    else if (Array.isArray(v)) {
      for (const one of v as unknown[]) {
        if (one === null) out.push({ key, value: null });
        else if (isWireValue(one)) out.push({ key, value: bytesOf(one) });
      }
    } else if (isWireValue(v)) out.push({ key, value: bytesOf(v) });
  }
  return out;
}

/**
 * A record as the Kafka clients hand it over (the runtime's @confluentinc/kafka-javascript, and
 * kafkajs for the services' own consumers): both group a repeated header's values into an array.
 */
export interface WireMessage {
  key?: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: Readonly<Record<string, HeaderValue>>;
}

/** A client's record (its other fields, attributes, size, leader epoch, are not read). */
export function toConsumed<M extends WireMessage>(topic: string, partition: number, m: M): ConsumedMessage {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    const wire = (x: unknown) => x === null || isWireValue(x);
    if (Array.isArray(v)) setOwn(headers, k, (v as unknown[]).filter(wire).map(String).join(","));
    else if (wire(v)) setOwn(headers, k, String(v));
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

// Generated hostile Kafka headers for the ingestion fuzz tests (test support, not production
// code): binary values, several values under one key, empty values, prototype-named and
// non-ASCII keys. Each message carries `fuzz-index` first, so a dead letter names its input.
// A dead letter must keep every value as it came: one entry per value, bytes untouched, in the
// order the consumer sees them (keys in order of first appearance, a key's values in order).

import type { Rng } from "./fuzz.ts";

export type HeaderValue = Buffer | string | Array<Buffer | string>;

export interface GeneratedHeaders {
  /** What the producer sends (kafkajs's form; one key, several values = an array). */
  readonly headers: Record<string, HeaderValue>;
  /** What a dead letter must hold: one entry per value, as bytes. */
  readonly entries: ReadonlyArray<{ key: string; value: Buffer }>;
}

export const FUZZ_INDEX_HEADER = "fuzz-index";

// Keys a header reader that indexes a plain object could confuse with Object.prototype.
const PROTOTYPE_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "prototype"] as const;

function binary(rng: Rng, max: number): Buffer {
  const b = Buffer.alloc(rng.int(1, max));
  for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255);
  // Never valid UTF-8, and a NUL: text handling would change or cut it.
  b[rng.int(0, b.length - 1)] = 0xff;
  b[rng.int(0, b.length - 1)] = 0x00;
  return b;
}

function value(rng: Rng): Buffer | string {
  const roll = rng.next();
  if (roll < 0.35) return binary(rng, 64);
  if (roll < 0.5) return Buffer.alloc(0);
  if (roll < 0.6) return "";
  if (roll < 0.7) return "a,b,c"; // a comma: a joined text form could not be split back
  if (roll < 0.8) return "ключ 🔑 \u0000 end";
  return `v-${rng.int(0, 1_000_000)}`;
}

/**
 * A header name as the services' Kafka client hands it over: librdkafka (ADR 15) passes names as
 * C strings, so a name is cut at its first NUL ("x\u0000y" arrives as "x"). Values are bytes and
 * arrive whole. The one known loss of the client; ADR 15 records it.
 */
export function wireName(key: string): string {
  const nul = key.indexOf("\u0000");
  return nul < 0 ? key : key.slice(0, nul);
}

/** Headers for message `index`: `fuzz-index`, then 0..5 hostile keys (none repeated as keys). */
export function hostileHeaders(rng: Rng, index: number): GeneratedHeaders {
  const headers: Record<string, HeaderValue> = {};
  // defineProperty: an own "__proto__" key, not a prototype change.
  const put = (k: string, v: HeaderValue) =>
    Object.defineProperty(headers, k, { value: v, enumerable: true, writable: true, configurable: true });
  put(FUZZ_INDEX_HEADER, String(index));
  const n = rng.int(0, 5);
  for (let j = 0; j < n; j++) {
    const roll = rng.next();
    // Integer-like keys are left out: JavaScript objects put them first, whatever the wire order.
    const key =
      roll < 0.15
        ? rng.pick(PROTOTYPE_KEYS)
        : roll < 0.25
          ? rng.pick(["", "ключ", "🔑", "a b", "x\u0000y", FUZZ_INDEX_HEADER.toUpperCase()])
          : `h-${rng.int(0, 20)}`;
    if (Object.hasOwn(headers, key)) continue;
    put(key, rng.chance(0.35) ? Array.from({ length: rng.int(2, 4) }, () => value(rng)) : value(rng));
  }
  const entries: Array<{ key: string; value: Buffer }> = [];
  for (const [key, v] of Object.entries(headers))
    for (const one of Array.isArray(v) ? v : [v])
      entries.push({ key: wireName(key), value: typeof one === "string" ? Buffer.from(one, "utf8") : one });
  return { headers, entries };
}

/** Differences between a dead letter's header entries and the expected ones, empty when equal. */
export function headerDiff(
  got: ReadonlyArray<{ key: string; value: Buffer | null }>,
  want: GeneratedHeaders["entries"],
): string | null {
  if (got.length !== want.length) return `${got.length} header entries, expected ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (!g || !w) return `entry ${i} missing`;
    if (g.key !== w.key) return `entry ${i}: key ${JSON.stringify(g.key)}, expected ${JSON.stringify(w.key)}`;
    if (!g.value?.equals(w.value))
      return `entry ${i} (${JSON.stringify(w.key)}): value ${g.value?.toString("hex") ?? "null"}, expected ${w.value.toString("hex")}`;
  }
  return null;
}

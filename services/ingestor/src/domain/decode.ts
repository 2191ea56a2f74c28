// The first gate: raw upstream bytes -> a plain JSON value, or a rejection that says why.
// Order of checks (first failure wins): empty, size, UTF-8, nesting depth, JSON syntax,
// prototype keys. Size and depth run before JSON.parse so a hostile payload costs one linear
// scan, never a deep recursion or a huge allocation.

import { type Result, accept, reject } from "./result.ts";

export interface DecodeLimits {
  /** Maximum payload size in bytes. */
  readonly maxBytes: number;
  /** Maximum nesting of objects and arrays; the top-level object is depth 1. */
  readonly maxDepth: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxBytes: 64 * 1024, maxDepth: 32 };

export const FORBIDDEN_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];

const utf8 = new TextDecoder("utf-8", { fatal: true });

export type JsonBytes = Uint8Array | string | null | undefined;

export function decodeJson(bytes: JsonBytes, limits: Partial<DecodeLimits> = {}): Result<unknown> {
  const { maxBytes, maxDepth } = { ...DEFAULT_DECODE_LIMITS, ...limits };
  if (bytes === null || bytes === undefined) return reject("EMPTY_PAYLOAD", "message has no value (null)");
  const size = typeof bytes === "string" ? Buffer.byteLength(bytes, "utf8") : bytes.byteLength;
  if (size === 0) return reject("EMPTY_PAYLOAD", "message value is 0 bytes");
  if (size > maxBytes) {
    return reject("OVERSIZE_PAYLOAD", `payload is ${size} bytes, over the ${maxBytes}-byte limit`);
  }
  let text: string;
  if (typeof bytes === "string") text = bytes;
  else {
    try {
      // fatal: true refuses invalid UTF-8 instead of silently inserting U+FFFD; a leading BOM is dropped.
      text = utf8.decode(bytes);
    } catch {
      return reject("MALFORMED_JSON", `payload is not valid UTF-8 (${size} bytes)`);
    }
  }
  if (text.trim() === "")
    return reject("EMPTY_PAYLOAD", `message value is blank (${size} bytes of whitespace)`);

  const tooDeep = scanDepth(text, maxDepth);
  if (tooDeep !== null) {
    return reject("TOO_DEEP", `nesting deeper than ${maxDepth} levels at character ${tooDeep}`);
  }

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return reject("MALFORMED_JSON", `payload is not valid JSON: ${detail.slice(0, 120)}`);
  }

  const forbidden = findForbiddenKey(value);
  if (forbidden !== null) {
    return reject("FORBIDDEN_KEY", `forbidden key "${forbidden.key}" at ${forbidden.path}`);
  }
  return accept(value);
}

/**
 * Index of the first bracket that opens a level deeper than maxDepth, or null. Counts only
 * brackets outside strings; unbalanced input is left for JSON.parse to refuse.
 */
export function scanDepth(text: string, maxDepth: number): number | null {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > maxDepth) return i;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return null;
}

/**
 * Walks own keys iteratively (JSON.parse defines "__proto__" as an own data property, so it
 * is visible here, escaped spellings like "\u005f_proto__" included). Returns the first hit.
 */
export function findForbiddenKey(root: unknown): { key: string; path: string } | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value: root, path: "(root)" }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: `${path}[${i}]` });
      continue;
    }
    const keys = Object.keys(value);
    for (const key of keys) {
      if (FORBIDDEN_KEYS.includes(key)) return { key, path };
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const child: unknown = Object.getOwnPropertyDescriptor(value, key)?.value;
      stack.push({ value: child, path: path === "(root)" ? key : `${path}.${key}` });
    }
  }
  return null;
}

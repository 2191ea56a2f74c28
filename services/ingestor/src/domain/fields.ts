// Field readers shared by the validators. They read own properties only, so an inherited
// Object.prototype member (toString, constructor, ...) is never mistaken for input, and they
// answer with a rejection naming the field.

import { isCurrency } from "./currencies.ts";
import { type Result, accept, reject, show } from "./result.ts";

export type JsonRecord = Readonly<Record<string, unknown>>;

export function isRecord(value: unknown): value is JsonRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  return !(value instanceof Date) && !ArrayBuffer.isView(value);
}

/** The own property, or undefined when absent or inherited. */
export function own(obj: JsonRecord, key: string): unknown {
  return Object.hasOwn(obj, key) ? Object.getOwnPropertyDescriptor(obj, key)?.value : undefined;
}

const INT32_MAX = 2_147_483_647;
const ID_MAX_LENGTH = 256;
// Control characters would break event-id hashing (NUL separates its parts), keys and logs.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A required identifier: a non-empty string of at most 256 characters without control characters. */
export function idField(obj: JsonRecord, field: string, path = field): Result<string> {
  const v = own(obj, field);
  if (v === undefined || v === null) return reject("SCHEMA_VIOLATION", `${path} is required`);
  return idValue(v, path);
}

export function idValue(v: unknown, path: string): Result<string> {
  if (typeof v !== "string") return reject("SCHEMA_VIOLATION", `${path} must be a string, got ${show(v)}`);
  if (v.trim() === "") return reject("SCHEMA_VIOLATION", `${path} must not be empty`);
  if (v.length > ID_MAX_LENGTH) {
    return reject("SCHEMA_VIOLATION", `${path} is ${v.length} characters, over ${ID_MAX_LENGTH}`);
  }
  if (CONTROL.test(v)) return reject("SCHEMA_VIOLATION", `${path} contains a control character`);
  return accept(v);
}

/** Absent, null and "" all mean "not given" (messy upstreams send "" for unset). */
export function optionalString(obj: JsonRecord, field: string, path = field): Result<string | null> {
  const v = own(obj, field);
  if (v === undefined || v === null || v === "") return accept(null);
  if (typeof v !== "string")
    return reject("SCHEMA_VIOLATION", `${path} must be a string or null, got ${show(v)}`);
  return accept(v);
}

/** An optional identifier: absent, null or "" is null, anything else must pass idValue. */
export function optionalId(obj: JsonRecord, field: string, path = field): Result<string | null> {
  const v = own(obj, field);
  if (v === undefined || v === null || v === "") return accept(null);
  return idValue(v, path);
}

export function enumField<T extends string>(
  obj: JsonRecord,
  field: string,
  symbols: readonly T[],
): Result<T> {
  const v = own(obj, field);
  if (v === undefined || v === null) return reject("SCHEMA_VIOLATION", `${field} is required`);
  if (typeof v !== "string" || !(symbols as readonly string[]).includes(v)) {
    return reject("SCHEMA_VIOLATION", `${field} must be one of ${symbols.join(", ")}, got ${show(v)}`);
  }
  return accept(v as T);
}

/** Avro int, non-negative, default 0 when absent. */
export function revisionField(obj: JsonRecord): Result<number> {
  const v = own(obj, "revision");
  if (v === undefined || v === null) return accept(0);
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > INT32_MAX) {
    return reject("SCHEMA_VIOLATION", `revision must be an integer from 0 to ${INT32_MAX}, got ${show(v)}`);
  }
  return accept(v);
}

/** The customer id, with MISSING_CUSTOMER_ID for absent/null/blank and SCHEMA_VIOLATION for a wrong type. */
export function customerIdField(obj: JsonRecord, field = "customerId"): Result<string> {
  const v = own(obj, field);
  if (v === undefined || v === null) return reject("MISSING_CUSTOMER_ID", `${field} is missing`);
  if (typeof v === "string" && v.trim() === "") return reject("MISSING_CUSTOMER_ID", `${field} is blank`);
  return idValue(v, field);
}

/**
 * Integer minor units: a number that is an integer from 0 to Number.MAX_SAFE_INTEGER.
 * Wrong JSON type is a SCHEMA_VIOLATION; a number with a wrong value is INVALID_AMOUNT.
 */
export function amountValue(v: unknown, path: string): Result<number> {
  if (v === undefined || v === null) return reject("SCHEMA_VIOLATION", `${path} is required`);
  if (typeof v !== "number") return reject("SCHEMA_VIOLATION", `${path} must be a number, got ${show(v)}`);
  if (!Number.isFinite(v)) return reject("INVALID_AMOUNT", `${path} is not finite`);
  if (!Number.isInteger(v)) return reject("INVALID_AMOUNT", `${path} must be whole minor units, got ${v}`);
  if (v < 0) return reject("INVALID_AMOUNT", `${path} must not be negative, got ${v}`);
  if (v > Number.MAX_SAFE_INTEGER) {
    return reject("INVALID_AMOUNT", `${path} is over ${Number.MAX_SAFE_INTEGER}, got ${v}`);
  }
  return accept(v);
}

/** Avro int quantity, non-negative; the same type/value split as amounts. */
export function quantityValue(v: unknown, path: string): Result<number> {
  if (v === undefined || v === null) return reject("SCHEMA_VIOLATION", `${path} is required`);
  if (typeof v !== "number") return reject("SCHEMA_VIOLATION", `${path} must be a number, got ${show(v)}`);
  if (!Number.isInteger(v) || v < 0 || v > INT32_MAX) {
    return reject("INVALID_AMOUNT", `${path} must be an integer from 0 to ${INT32_MAX}, got ${v}`);
  }
  return accept(v);
}

/** ISO 4217 alphabetic code from the table in currencies.ts, upper case, exactly as sent. */
export function currencyField(obj: JsonRecord): Result<string> {
  const v = own(obj, "currency");
  if (v === undefined || v === null) return reject("SCHEMA_VIOLATION", "currency is required");
  if (typeof v !== "string") return reject("SCHEMA_VIOLATION", `currency must be a string, got ${show(v)}`);
  if (!isCurrency(v)) return reject("UNKNOWN_CURRENCY", `currency ${show(v)} is not a current ISO 4217 code`);
  return accept(v);
}

export function stringArrayField(obj: JsonRecord, field: string): Result<string[]> {
  const v = own(obj, field);
  if (v === undefined || v === null) return accept([]);
  if (!Array.isArray(v)) return reject("SCHEMA_VIOLATION", `${field} must be an array, got ${show(v)}`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const item = idValue(v[i], `${field}[${i}]`);
    if (!item.ok) return item;
    out.push(item.value);
  }
  return accept(out);
}

// Fact resolution and the `path` subset of JSONPath that conditions may use.
//
// Fact names ("order.lines") are resolved over OWN properties of plain objects only. A
// condition `path` is applied to the fact value the way json-rules-engine does it (through
// jsonpath-plus with wrap:false), restricted to a grammar that cannot evaluate code:
//   $            the fact value itself
//   .name        own property (identifier)
//   [n]          own index/property n
//   .* or [*]    every element/own enumerable key; the result is then always an array
// Semantics mirrored exactly (tested differentially): the path only applies when the fact
// value is a non-null object, otherwise the fact value is used as is; a step follows
// Object.hasOwn on any truthy value; no match gives undefined; one match without a wildcard
// gives the value itself; a wildcard gives the array of matches (undefined when empty).

import { PROTO_KEYS } from "./catalogue.ts";

export type Getter = (facts: unknown) => unknown;

export type PathSegment = string | typeof WILDCARD;
export const WILDCARD: unique symbol = Symbol("wildcard");

const SEGMENT_RE = /\.([A-Za-z_][A-Za-z0-9_]*)|\.\*|\[([0-9]{1,9})\]|\[\*\]/y;

export interface ParsedPath {
  segments: PathSegment[];
  wildcard: boolean;
}

/** Parses a condition path; returns an error message instead when outside the grammar. */
export function parsePath(path: string): ParsedPath | string {
  if (!path.startsWith("$")) return "path must start with $";
  if (path.length > 200) return "path longer than 200 characters";
  const segments: PathSegment[] = [];
  let wildcard = false;
  SEGMENT_RE.lastIndex = 1;
  let pos = 1;
  while (pos < path.length) {
    SEGMENT_RE.lastIndex = pos;
    const m = SEGMENT_RE.exec(path);
    if (m === null) return `unsupported path syntax at offset ${pos} (allowed: .name, [n], .*, [*])`;
    const name = m[1] ?? m[2];
    if (name === undefined) {
      segments.push(WILDCARD);
      wildcard = true;
    } else {
      if (PROTO_KEYS.has(name)) return `path segment "${name}" is forbidden`;
      segments.push(name);
    }
    pos = SEGMENT_RE.lastIndex;
  }
  if (segments.length > 8) return "path has more than 8 segments";
  return { segments, wildcard };
}

function trace(value: unknown, segments: readonly PathSegment[], i: number, out: unknown[]): void {
  if (i === segments.length) {
    out.push(value);
    return;
  }
  const seg = segments[i];
  if (seg === WILDCARD) {
    if (Array.isArray(value)) {
      for (let k = 0; k < value.length; k++) trace(value[k], segments, i + 1, out);
    } else if (value !== null && typeof value === "object") {
      const rec = value as Record<string, unknown>;
      for (const key of Object.keys(rec)) trace(rec[key], segments, i + 1, out);
    }
    return;
  }
  // Object.hasOwn on a truthy primitive boxes it ("ab" has own "0", "1", "length"): same as jsonpath-plus.
  if (seg !== undefined && value && Object.hasOwn(value as object, seg)) {
    trace((value as Record<string, unknown>)[seg], segments, i + 1, out);
  }
}

/** Applies a parsed path to a fact value with json-rules-engine/jsonpath-plus semantics. */
export function applyPath(value: unknown, path: ParsedPath): unknown {
  if (value === null || typeof value !== "object") return value;
  const { segments, wildcard } = path;
  if (!wildcard) {
    // Fast path: a plain chain of own-property steps.
    let v: unknown = value;
    for (const seg of segments) {
      if (v && Object.hasOwn(v as object, seg as string)) v = (v as Record<string, unknown>)[seg as string];
      else return undefined;
    }
    return v;
  }
  const out: unknown[] = [];
  trace(value, segments, 0, out);
  return out.length === 0 ? undefined : out;
}

/** Getter for a dotted fact name over own properties of plain objects (never the prototype chain). */
export function factGetter(name: string): Getter {
  const segs = name.split(".");
  const own = (v: unknown, k: string): unknown =>
    v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, k)
      ? (v as Record<string, unknown>)[k]
      : undefined;
  if (segs.length === 2) {
    const [a = "", b = ""] = segs;
    return (f) => own(own(f, a), b);
  }
  if (segs.length === 3) {
    const [a = "", b = "", c = ""] = segs;
    return (f) => own(own(own(f, a), b), c);
  }
  return (f) => {
    let v: unknown = f;
    for (const s of segs) v = own(v, s);
    return v;
  };
}

export function getterWithPath(name: string, path: ParsedPath | null): Getter {
  const base = factGetter(name);
  if (path === null) return base;
  return (f) => applyPath(base(f), path);
}

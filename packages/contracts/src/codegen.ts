// Generates TypeScript types from the Avro schemas, so the schemas stay the source of types.
// `pnpm --filter @loyalty/contracts gen` writes src/generated/types.ts; a test fails on drift.
import { readdirSync } from "node:fs";
import { SCHEMA_DIR, loadSchema } from "./schemas.ts";

type Avro = string | AvroObject | Avro[];
interface AvroObject {
  type: Avro;
  name?: string;
  fields?: Array<{ name: string; type: Avro; doc?: string; default?: unknown; tsOptional?: boolean }>;
  symbols?: string[];
  items?: Avro;
  values?: Avro;
  logicalType?: string;
  doc?: string;
}

const PRIMITIVE: Record<string, string> = {
  null: "null",
  boolean: "boolean",
  int: "number",
  long: "number",
  float: "number",
  double: "number",
  string: "string",
  bytes: "Buffer",
};

export function generateTypes(): string {
  const out: string[] = [];
  const seen = new Set<string>();

  const typeOf = (t: Avro): string => {
    if (Array.isArray(t)) return t.map(typeOf).join(" | ");
    if (typeof t === "string") {
      const p = PRIMITIVE[t];
      if (p) return p;
      return t.split(".").pop() ?? t;
    }
    switch (t.type) {
      case "record":
        return declareRecord(t);
      case "enum": {
        const name = t.name ?? "Enum";
        if (!seen.has(name)) {
          seen.add(name);
          out.push(`export type ${name} = ${(t.symbols ?? []).map((s) => JSON.stringify(s)).join(" | ")};\n`);
        }
        return name;
      }
      case "array":
        return `Array<${typeOf(t.items ?? "null")}>`;
      case "map":
        return `Record<string, ${typeOf(t.values ?? "null")}>`;
      default:
        return typeOf(t.type);
    }
  };

  const declareRecord = (r: AvroObject): string => {
    const name = r.name ?? "Record";
    if (seen.has(name)) return name;
    seen.add(name);
    const body = (r.fields ?? []).map((f) => {
      const doc = f.doc ? `  /** ${f.doc} */\n` : "";
      // `"tsOptional": true` (Avro metadata, ignored by readers and the registry) on a field with a
      // default: writers may omit it (avsc writes the default), readers always get it. For fields
      // added to a contract whose existing writers do not set them yet.
      const optional = f.tsOptional === true && f.default !== undefined ? "?" : "";
      return `${doc}  ${f.name}${optional}: ${typeOf(f.type)};`;
    });
    const doc = r.doc ? `/** ${r.doc} */\n` : "";
    out.push(`${doc}export interface ${name} {\n${body.join("\n")}\n}\n`);
    return name;
  };

  for (const file of readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith(".avsc"))
    .sort()) {
    declareRecord(loadSchema(file) as unknown as AvroObject);
  }
  return `// Generated from schemas/avro by packages/contracts/src/codegen.ts. Do not edit.\n\n${out.join("\n")}`;
}

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import avro from "avsc";
import { ALL_TOPICS, type TopicSpec } from "./topics.ts";

export const SCHEMA_DIR = fileURLToPath(new URL("../../../schemas/avro/", import.meta.url));

export type AvroSchemaJson = Record<string, unknown>;

const cache = new Map<string, AvroSchemaJson>();

export function loadSchema(file: string): AvroSchemaJson {
  let schema = cache.get(file);
  if (!schema) {
    schema = JSON.parse(readFileSync(`${SCHEMA_DIR}${file}`, "utf8")) as AvroSchemaJson;
    cache.set(file, schema);
  }
  return schema;
}

export function schemaOf(topic: TopicSpec): AvroSchemaJson {
  return loadSchema(topic.schemaFile);
}

/** avsc types for local validation (isValid with error paths) without a registry round trip. */
export function avroTypeOf(topic: TopicSpec): avro.Type {
  return avro.Type.forSchema(schemaOf(topic) as avro.Schema);
}

export function allTopicSchemas(): Array<{ topic: TopicSpec; schema: AvroSchemaJson }> {
  return ALL_TOPICS.map((topic) => ({ topic, schema: schemaOf(topic) }));
}

/** Paths of fields that fail validation, e.g. ["lines.0.quantity"], for DLQ reasons. */
export function schemaErrors(type: avro.Type, value: unknown): string[] {
  const paths: string[] = [];
  type.isValid(value, {
    errorHook(path: string[]) {
      paths.push(path.join(".") || "(root)");
    },
  });
  return paths;
}

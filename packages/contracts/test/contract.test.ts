import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { generateTypes } from "../src/codegen.ts";
import { ALL_TOPICS, FRONTIER_HEADER, SCHEMA_DIR, SOURCE_HEADER, avroTypeOf } from "../src/index.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const asyncapi = parse(readFileSync(join(ROOT, "schemas/asyncapi.yaml"), "utf8")) as {
  asyncapi: string;
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  components: {
    messages: Record<
      string,
      { payload: { schema: { $ref: string } }; headers?: { properties: Record<string, unknown> } }
    >;
  };
};
const documented = new Map(Object.entries(asyncapi.channels).map(([id, c]) => [c.address, id]));

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".") || name === "generated") continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|sh)$/.test(name) || name === "docker-compose.yml") out.push(p);
  }
  return out;
}

describe("the topic contract", () => {
  // The parser, servers and topic = channel checks are in asyncapi.test.ts.
  it("gives every topic's channel the Avro schema file of the catalogue", () => {
    expect(asyncapi.asyncapi).toMatch(/^3\./);
    for (const t of ALL_TOPICS) {
      const id = documented.get(t.name);
      const channel = id === undefined ? undefined : asyncapi.channels[id];
      const ref =
        Object.values(channel?.messages ?? {})[0]
          ?.$ref.split("/")
          .pop() ?? "";
      expect(asyncapi.components.messages[ref]?.payload.schema.$ref, t.name).toBe(`./avro/${t.schemaFile}`);
    }
  });

  it("documents the source header on the records the ingestor derives", () => {
    for (const m of ["loyalty_purchases_v1", "loyalty_members_v1"])
      expect(Object.keys(asyncapi.components.messages[m]?.headers?.properties ?? {})).toEqual([
        SOURCE_HEADER,
      ]);
  });

  it("documents the frontier marker header on the churn alerts", () => {
    expect(
      Object.keys(asyncapi.components.messages.loyalty_churn_alerts_v1?.headers?.properties ?? {}),
    ).toEqual([FRONTIER_HEADER]);
  });

  it("fails when any topic name used anywhere in the code base is missing from it", () => {
    const literal = /["'`]((?:orders|members|loyalty\.[a-z-]+)\.v\d+)["'`]/g;
    const used = new Map<string, string>();
    for (const dir of ["packages", "services", "infra"]) {
      for (const file of sourceFiles(join(ROOT, dir))) {
        for (const m of readFileSync(file, "utf8").matchAll(literal)) used.set(m[1]!, file);
      }
    }
    for (const file of sourceFiles(ROOT).filter((f) => f.endsWith("docker-compose.yml"))) {
      for (const m of readFileSync(file, "utf8").matchAll(literal)) used.set(m[1]!, file);
    }
    expect(used.size).toBeGreaterThan(5);
    const missing = [...used].filter(([t]) => !documented.has(t)).map(([t, f]) => `${t} (in ${f})`);
    expect(missing).toEqual([]);
  });

  it("has a valid Avro schema for every topic", () => {
    for (const t of ALL_TOPICS) expect(() => avroTypeOf(t)).not.toThrow();
    expect(
      readdirSync(SCHEMA_DIR)
        .filter((f) => f.endsWith(".avsc"))
        .sort(),
    ).toEqual(ALL_TOPICS.map((t) => t.schemaFile).sort());
  });

  it("has generated TypeScript types that match the schemas (run `pnpm --filter @loyalty/contracts gen` after a schema change)", () => {
    const onDisk = readFileSync(new URL("../src/generated/types.ts", import.meta.url), "utf8");
    expect(onDisk).toBe(generateTypes());
  });
});

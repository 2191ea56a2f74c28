// schemas/asyncapi.yaml checked by the reference AsyncAPI parser (with the Avro schema parser,
// so the channels' Avro payloads are checked too), and compared with the topic catalogue in
// code. The comparison is shown to catch a missing or an extra channel on mutated copies.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AvroSchemaParser } from "@asyncapi/avro-schema-parser";
import { type AsyncAPIDocumentInterface, type Diagnostic, Parser } from "@asyncapi/parser";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { ALL_TOPICS, type TopicSpec } from "../src/index.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const FILE = join(ROOT, "schemas/asyncapi.yaml");
const TEXT = readFileSync(FILE, "utf8");

const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());

// Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
const SEVERITY = ["error", "warning", "info", "hint"] as const;
const brief = (d: Diagnostic) => `${SEVERITY[d.severity]} ${d.code} ${d.path.join(".")}: ${d.message}`;

/** Parses a version of the contract as if it were the file (its ./avro refs resolve beside it). */
async function parse(text: string): Promise<{ document?: AsyncAPIDocumentInterface; diagnostics: string[] }> {
  const { document, diagnostics } = await parser.parse(text, { source: FILE });
  return { document, diagnostics: diagnostics.map(brief) };
}

interface TopicCoverage {
  /** In the topic catalogue, no channel has it as address. */
  undocumented: string[];
  /** A channel address that is no topic of the catalogue. */
  unknown: string[];
}

function topicCoverage(document: AsyncAPIDocumentInterface, topics: readonly TopicSpec[]): TopicCoverage {
  const addresses = new Set(
    document
      .channels()
      .all()
      .map((c) => c.address()),
  );
  const names = new Set(topics.map((t) => t.name));
  return {
    undocumented: [...names].filter((n) => !addresses.has(n)).sort(),
    unknown: [...addresses].filter((a): a is string => typeof a === "string" && !names.has(a)).sort(),
  };
}

/** A copy of the contract without one channel (and the operations on it). */
function withoutChannel(id: string): string {
  const doc = parseDocument(TEXT);
  expect(doc.hasIn(["channels", id])).toBe(true);
  doc.deleteIn(["channels", id]);
  const operations = doc.getIn(["operations"]) as { items: { key: { value: string } }[] };
  for (const { key } of [...operations.items])
    if (doc.getIn(["operations", key.value, "channel", "$ref"]) === `#/channels/${id}`)
      doc.deleteIn(["operations", key.value]);
  return doc.toString();
}

describe("schemas/asyncapi.yaml", () => {
  it("parses with the AsyncAPI parser and its Avro schema parser without a single diagnostic", async () => {
    const { document, diagnostics } = await parse(TEXT);
    expect(diagnostics).toEqual([]);
    expect(document?.version()).toBe("3.1.0");
    const messages = document?.allMessages().all() ?? [];
    expect(messages.length).toBe(ALL_TOPICS.length);
    for (const m of messages) {
      // The Avro parser read the referenced .avsc and turned the record into JSON Schema.
      const payload = m.payload()?.json() as
        | { schemaFormat?: string; schema?: { type?: unknown } }
        | undefined;
      expect(payload?.schemaFormat, m.id()).toMatch(/^application\/vnd\.apache\.avro/);
      expect(payload?.schema?.type, m.id()).toBe("object");
    }
  });

  it("names the local stack (SASL) and a production placeholder (TLS + SASL) as servers", async () => {
    const { document } = await parse(TEXT);
    const servers = document?.servers().all() ?? [];
    expect(servers.map((s) => [s.id(), s.protocol(), s.host()])).toEqual([
      ["local", "kafka", "127.0.0.1:9092"],
      ["production", "kafka-secure", "{bootstrap}"],
    ]);
    // Both require SASL/SCRAM-SHA-512 (issue 21): the scheme the clients and the stack use.
    expect(
      servers.map((s) =>
        s
          .security()
          .flatMap((req) => req.all())
          .map((r) => r.scheme().type()),
      ),
    ).toEqual([["scramSha512"], ["scramSha512"]]);
    expect(servers.map((s) => s.bindings().get("kafka")?.value().schemaRegistryVendor)).toEqual([
      "apicurio",
      "apicurio",
    ]);
  });

  it("the parser itself refuses a broken copy: an Avro payload of no Avro type, a dangling channel", async () => {
    const badAvro = parseDocument(TEXT);
    badAvro.setIn(["components", "messages", "loyalty_tiers_v1", "payload", "schema"], {
      type: "nonsense",
      name: "Broken",
    });
    const avro = await parse(badAvro.toString());
    expect(avro.diagnostics.length).toBeGreaterThan(0);
    for (const d of avro.diagnostics)
      expect(d).toMatch(/^error asyncapi-document-resolved components\.messages\.loyalty_tiers_v1\.payload/);
    const dangling = parseDocument(TEXT);
    dangling.deleteIn(["channels", "loyalty_tiers_v1"]);
    const ref = await parse(dangling.toString());
    expect(ref.document).toBeUndefined();
    expect(ref.diagnostics.some((d) => d.startsWith("error ") && d.includes("loyalty_tiers_v1"))).toBe(true);
  });
});

describe("topics in code = channels in AsyncAPI", () => {
  it("every topic of the catalogue is a channel, and every channel a topic", async () => {
    const { document } = await parse(TEXT);
    if (!document) throw new Error("schemas/asyncapi.yaml does not parse");
    expect(document.channels().all().length).toBe(ALL_TOPICS.length);
    expect(topicCoverage(document, ALL_TOPICS)).toEqual({ undocumented: [], unknown: [] });
  });

  it("reports exactly the topic whose channel is removed from a copy (which still parses)", async () => {
    const { document, diagnostics } = await parse(withoutChannel("loyalty_tiers_v1"));
    expect(diagnostics).toEqual([]);
    if (!document) throw new Error("the mutated copy does not parse");
    expect(topicCoverage(document, ALL_TOPICS)).toEqual({
      undocumented: ["loyalty.tiers.v1"],
      unknown: [],
    });
  });

  it("reports exactly the channel no topic of the catalogue has", async () => {
    const { document } = await parse(TEXT);
    if (!document) throw new Error("schemas/asyncapi.yaml does not parse");
    const withoutDlq = ALL_TOPICS.filter((t) => t.name !== "loyalty.dlq.v1");
    expect(topicCoverage(document, withoutDlq)).toEqual({ undocumented: [], unknown: ["loyalty.dlq.v1"] });
  });
});

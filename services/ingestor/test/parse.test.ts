// How a registry-framed record's decode failure is classified (src/parse.ts): the record's fault
// is dead-lettered with its code, the registry's fault is retried and never dead-lettered.
import { type AvroCodec, namespacedTopics } from "@loyalty/contracts";
import { TransientError } from "@loyalty/stream-runtime";
import { describe, expect, it } from "vitest";
import { DEFAULT_DECODE_LIMITS } from "../src/domain/decode.ts";
import type { SourceRecord } from "../src/domain/index.ts";
import { parseRecord } from "../src/parse.ts";

const topics = namespacedTopics("t");
const framed = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff, 1, 2]);
const record: SourceRecord = {
  topic: topics.members.name,
  partition: 0,
  offset: "0",
  timestamp: 0,
  key: null,
  value: framed,
  headers: {},
};
/** A codec whose decode fails as the registry client or avsc would. */
const failing = (err: unknown) =>
  ({
    decode: async () => {
      throw err;
    },
  }) as unknown as AvroCodec;
const responseError = (status: number, message: string) => Object.assign(new Error(message), { status });

describe("registry-framed decode failures", () => {
  it("an id the registry answers 404 for is UNKNOWN_SCHEMA_ID, whatever the message says", async () => {
    // Apicurio's words for it: no "not found" in them.
    const err = responseError(404, "Confluent_Schema_Registry - No content with ID '2147483647' was found.");
    await expect(parseRecord(record, topics, failing(err), DEFAULT_DECODE_LIMITS)).resolves.toMatchObject({
      kind: "reject",
      code: "UNKNOWN_SCHEMA_ID",
      reason: "schema id 2147483647 is unknown to the registry",
    });
  });

  it("a body that does not decode is MALFORMED_AVRO", async () => {
    await expect(
      parseRecord(record, topics, failing(new Error("truncated buffer")), DEFAULT_DECODE_LIMITS),
    ).resolves.toMatchObject({ kind: "reject", code: "MALFORMED_AVRO" });
  });

  it("the registry down, overloaded or refusing us is a TransientError, not a dead letter", async () => {
    for (const err of [
      responseError(503, "unavailable"),
      responseError(401, "unauthorized"),
      responseError(429, "slow down"),
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8081"), { code: "ECONNREFUSED" }),
    ])
      await expect(parseRecord(record, topics, failing(err), DEFAULT_DECODE_LIMITS)).rejects.toBeInstanceOf(
        TransientError,
      );
  });
});

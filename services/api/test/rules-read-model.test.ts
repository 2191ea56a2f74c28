// The rules read model's pure step: a decoded publication → its api_rule_sets row, or why not.
import type { RuleSetPublished } from "@loyalty/contracts";
import { TransientError } from "@loyalty/stream-runtime";
import { describe, expect, it } from "vitest";
import { decodePublication, publicationRow } from "../src/rules-read-model.ts";

const at = { partition: 0, offset: "7" };
const pub = (over: Partial<RuleSetPublished> = {}): RuleSetPublished => ({
  ruleSetId: "standard",
  version: 3,
  publishedAt: 1_700_000_000_000,
  checksum: "c0ffee",
  ruleSetJson: JSON.stringify({ id: "standard", version: 3, rules: [{ id: "base-points" }] }),
  publisher: "alice",
  keyId: "0123456789abcdef",
  digest: "d",
  signature: Buffer.from("s"),
  ...over,
});

describe("publicationRow", () => {
  it("keeps what the console shows: version, publisher, signature present, the rules, the position", () => {
    const out = publicationRow(at, { ok: true, publication: pub() });
    expect(out).toEqual({
      ok: true,
      row: {
        ruleSetId: "standard",
        version: 3,
        publishedAt: 1_700_000_000_000,
        publisher: "alice",
        keyId: "0123456789abcdef",
        signed: true,
        checksum: "c0ffee",
        ruleSet: { id: "standard", version: 3, rules: [{ id: "base-points" }] },
        partition: 0,
        offset: "7",
      },
    });
  });

  it("marks an unsigned publication as such (the engine refuses it; the console shows it was sent)", () => {
    const out = publicationRow(at, {
      ok: true,
      publication: pub({ signature: null, publisher: null, keyId: null }),
    });
    expect(out.ok && out.row.signed).toBe(false);
  });

  it("refuses rule-set text that is not a JSON object, and an undecodable record", () => {
    expect(publicationRow(at, { ok: true, publication: pub({ ruleSetJson: "{" }) })).toEqual({
      ok: false,
      reason: "rule set standard v3: ruleSetJson is not JSON",
    });
    expect(publicationRow(at, { ok: true, publication: pub({ ruleSetJson: "[1]" }) }).ok).toBe(false);
    expect(publicationRow(at, { ok: true, publication: pub({ version: 0 }) }).ok).toBe(false);
    expect(publicationRow(at, { ok: false, reason: "not registry-framed Avro" })).toEqual({
      ok: false,
      reason: "not registry-framed Avro",
    });
  });
});

describe("decodePublication", () => {
  const framed = Buffer.from([0, 0, 0, 0, 1, 2]);
  it("skips empty and unframed records without asking the registry", async () => {
    const codec = { decode: async () => Promise.reject(new Error("must not be called")) };
    expect(await decodePublication(codec, null)).toEqual({ ok: false, reason: "record has no value" });
    expect(await decodePublication(codec, Buffer.from("{}"))).toEqual({
      ok: false,
      reason: "not registry-framed Avro",
    });
  });

  it("retries a registry that does not answer; an unknown schema id is the record's fault", async () => {
    const down = { decode: async () => Promise.reject(new Error("fetch failed: ECONNREFUSED")) };
    await expect(decodePublication(down, framed)).rejects.toBeInstanceOf(TransientError);
    const unknown = { decode: async () => Promise.reject(new Error("schema 9 not found")) };
    expect(await decodePublication(unknown, framed)).toEqual({ ok: false, reason: "schema 9 not found" });
  });
});

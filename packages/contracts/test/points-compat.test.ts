// loyalty.points.v1 grew `ruleSetId` and `lots` (ADR 16 step 3, the member API's read model). The
// subject is registered BACKWARD: a consumer on the new schema must read records written with the
// schema as it was (test/fixtures/loyalty.points.v1.before-lots.avsc, the registered version
// before), and, as both fields have defaults, a consumer still on the old one reads new records.
import { readFileSync } from "node:fs";
import avro from "avsc";
import { describe, expect, it } from "vitest";
import { loadSchema } from "../src/index.ts";

const before = avro.Type.forSchema(
  JSON.parse(
    readFileSync(new URL("./fixtures/loyalty.points.v1.before-lots.avsc", import.meta.url), "utf8"),
  ) as avro.Schema,
);
const now = avro.Type.forSchema(loadSchema("loyalty.points.v1.avsc") as avro.Schema);

const old = {
  eventId: "e1",
  memberId: "m1",
  kind: "REDEEMED",
  points: -30,
  balanceAfter: 70,
  ruleId: null,
  ruleVersion: null,
  ruleSetVersion: null,
  sourceEventId: "cmd-1",
  orderId: null,
  reason: "redemption",
  eventTime: 1_700_000_000_000,
  lotExpiresAt: null,
};

describe("loyalty.points.v1: lots and ruleSetId, backward and forward compatible", () => {
  it("every field added since the registered version has a default", () => {
    const fieldsOf = (t: avro.Type) =>
      new Map((t as avro.types.RecordType).fields.map((f) => [f.name, f] as const));
    const was = fieldsOf(before);
    const added = [...fieldsOf(now).values()].filter((f) => !was.has(f.name));
    expect(added.map((f) => f.name)).toEqual(["ruleSetId", "lots"]);
    for (const f of added) expect(f.defaultValue()).not.toBeUndefined();
  });

  it("a new reader reads an old record: no lots, no rule set id", () => {
    const read = now.fromBuffer(before.toBuffer(old), now.createResolver(before));
    expect(read).toMatchObject({ ...old, ruleSetId: null, lots: [] });
  });

  it("an old reader reads a new record: the added fields are skipped", () => {
    const fresh = {
      ...old,
      ruleSetId: "standard",
      lots: [
        { lotId: "l1", points: -20, expiresAt: null },
        { lotId: "l2", points: -10, expiresAt: null },
      ],
    };
    expect(now.isValid(fresh)).toBe(true);
    const read = before.fromBuffer(now.toBuffer(fresh), before.createResolver(now));
    expect({ ...read }).toEqual(old);
  });

  it("a lot an entry opens carries its expiry", () => {
    const earn = {
      ...old,
      kind: "EARNED",
      points: 25,
      ruleId: "base",
      ruleVersion: 1,
      ruleSetVersion: 3,
      ruleSetId: "standard",
      lotExpiresAt: 1_730_000_000_000,
      lots: [{ lotId: "e1", points: 25, expiresAt: 1_730_000_000_000 }],
    };
    expect(now.fromBuffer(now.toBuffer(earn))).toMatchObject(earn);
  });
});

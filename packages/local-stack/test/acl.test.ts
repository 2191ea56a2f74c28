// The ACLs generated from schemas/asyncapi.yaml say what issue 21 asks: only the publisher writes
// rule sets, upstream writes only orders and members, each service reads and writes its own
// channels, and a namespace's grants name only its own topics.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ASYNCAPI_FILE, AccessPlanError, accessPlan, grantKey, namespaceGrants } from "../src/acl.ts";

const grants = namespaceGrants("");
const of = (principal: string, operation: string) =>
  grants
    .filter((g) => g.principal === principal && g.operation === operation && g.resource === "TOPIC")
    .map((g) => g.name)
    .sort();

describe("ACLs generated from the AsyncAPI document", () => {
  it("lets only the publisher write loyalty.rules.v1 (the rules engine only reads it)", () => {
    expect(
      grants.filter((g) => g.name === "loyalty.rules.v1" && g.operation === "WRITE").map((g) => g.principal),
    ).toEqual(["publisher"]);
    expect(of("publisher", "WRITE")).toEqual(["loyalty.rules.v1"]);
    for (const p of ["ingestor", "rules-engine", "tier-evaluator", "churn-alert", "api", "upstream"])
      expect(of(p, "WRITE"), p).not.toContain("loyalty.rules.v1");
    // The API reads it for the console's read model of rule sets (ADR 18), and only reads it.
    expect(of("api", "READ")).toContain("loyalty.rules.v1");
  });

  it("lets the publisher read the rule topic in the CLI's throwaway groups, nothing else", () => {
    expect(grants.filter((g) => g.principal === "publisher").map(grantKey)).toEqual([
      "User:publisher GROUP PREFIXED loyalty-cli-rules- DESCRIBE",
      "User:publisher GROUP PREFIXED loyalty-cli-rules- READ",
      "User:publisher TOPIC LITERAL loyalty.rules.v1 READ",
      "User:publisher TOPIC LITERAL loyalty.rules.v1 WRITE",
    ]);
  });

  it("lets backtest read purchases and member changes in its throwaway groups, nothing else", () => {
    expect(grants.filter((g) => g.principal === "backtest").map(grantKey)).toEqual([
      "User:backtest GROUP PREFIXED loyalty-backtest- DESCRIBE",
      "User:backtest GROUP PREFIXED loyalty-backtest- READ",
      "User:backtest TOPIC LITERAL loyalty.members.v1 READ",
      "User:backtest TOPIC LITERAL loyalty.purchases.v1 READ",
    ]);
  });

  it("lets upstream write orders.v1 and members.v1 and nothing else", () => {
    expect(grants.filter((g) => g.principal === "upstream").map(grantKey)).toEqual([
      "User:upstream TOPIC LITERAL members.v1 WRITE",
      "User:upstream TOPIC LITERAL orders.v1 WRITE",
    ]);
  });

  it("gives each service its own channels, groups and transactional ids", () => {
    expect(of("ingestor", "READ")).toEqual(["members.v1", "orders.v1"]);
    expect(of("ingestor", "WRITE")).toEqual(["loyalty.dlq.v1", "loyalty.members.v1", "loyalty.purchases.v1"]);
    expect(of("tier-evaluator", "WRITE")).toEqual(["loyalty.dlq.v1", "loyalty.tiers.v1"]);
    expect(of("churn-alert", "READ")).toEqual(["loyalty.purchases.v1"]);
    expect(of("rules-engine", "READ")).toContain("loyalty.rules.v1");
    for (const s of ["ingestor", "rules-engine", "tier-evaluator", "churn-alert", "api"]) {
      const keys = grants.filter((g) => g.principal === s).map(grantKey);
      expect(keys).toContain(`User:${s} GROUP PREFIXED ${s} READ`);
      expect(keys).toContain(`User:${s} TRANSACTIONAL_ID PREFIXED ${s} WRITE`);
    }
    // Services provision their namespace's topics at start (DESCRIBE and CREATE, no data access).
    expect(of("ingestor", "CREATE")).toHaveLength(accessPlan().channels.length);
    expect(of("upstream", "CREATE")).toEqual([]);
    expect(of("publisher", "CREATE")).toEqual([]);
    // Nobody but admin (a super user, no ACL) reads the DLQ or anything they do not consume.
    expect(grants.filter((g) => g.name === "loyalty.dlq.v1" && g.operation === "READ")).toEqual([]);
  });

  it("lets only the API send ledger commands and only the rules engine answer them (ADR 16 step 3)", () => {
    const who = (topic: string, operation: string) =>
      grants
        .filter((g) => g.name === topic && g.operation === operation && g.resource === "TOPIC")
        .map((g) => g.principal)
        .sort();
    expect(who("loyalty.ledger-commands.v1", "WRITE")).toEqual(["api"]);
    expect(who("loyalty.ledger-commands.v1", "READ")).toEqual(["rules-engine"]);
    expect(who("loyalty.ledger-replies.v1", "WRITE")).toEqual(["rules-engine"]);
    expect(who("loyalty.ledger-replies.v1", "READ")).toEqual(["api"]);
    // The engine's entries of a command go out with its reply; the API no longer writes points.
    expect(who("loyalty.points.v1", "WRITE")).toEqual(["rules-engine"]);
  });

  it("names only the namespace's own topics, groups and transactional ids", () => {
    const ns = namespaceGrants("t0123456789");
    expect(ns).toHaveLength(grants.length);
    for (const g of ns)
      if (g.name !== "loyalty-cli-rules-" && g.name !== "loyalty-backtest-")
        expect(g.name.startsWith("t0123456789."), grantKey(g)).toBe(true);
  });

  it("refuses a document naming an unknown principal", () => {
    const text = readFileSync(ASYNCAPI_FILE, "utf8").replace(
      "x-producers: [upstream]",
      "x-producers: [mallory]",
    );
    expect(() => accessPlan(text)).toThrow(AccessPlanError);
  });

  it("covers every channel with at least one producer", () => {
    for (const c of accessPlan().channels) expect(c.producers.length, c.address).toBeGreaterThan(0);
  });
});

// The draft editor's problems, computed with the same schema the browser's build-time validator
// is compiled from (schemas/ruleset.schema.json), without a browser.
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { checkDraft, jsonPath, problemsOf } from "../src/validate.ts";

const REPO = new URL("../../../", import.meta.url);
const schema = JSON.parse(readFileSync(new URL("schemas/ruleset.schema.json", REPO), "utf8"));
const standard = readFileSync(new URL("rules/standard/ruleset.json", REPO), "utf8");
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(schema);

describe("draft problems", () => {
  it("finds none in rules/standard", () => {
    expect(checkDraft(standard, validate).problems).toEqual([]);
  });

  it("names the rule and the path of a bad field", () => {
    const doc = JSON.parse(standard);
    doc.rules[1].status = "sometimes";
    const { problems } = checkDraft(JSON.stringify(doc), validate);
    expect(problems).toContainEqual({
      ruleId: "tier-platinum",
      path: "$.rules[1].status",
      problem: expect.stringContaining("must be one of"),
    });
  });

  it("names a missing or unknown property at its own path", () => {
    const doc = JSON.parse(standard);
    doc.rules[0].id = undefined;
    doc.rules[0].colour = "red";
    const { problems } = checkDraft(JSON.stringify(doc), validate);
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(["$.rules[0].id", "$.rules[0].colour"]),
    );
    // Without its id, the rule is named by its position.
    expect(problems.find((p) => p.path === "$.rules[0].id")?.ruleId).toBe("rules[0]");
  });

  it("reports text that is not JSON as one problem at $", () => {
    expect(checkDraft("{ nope", validate).problems).toEqual([
      { ruleId: null, path: "$", problem: expect.stringMatching(/^not JSON: /) },
    ]);
  });

  it("drops a oneOf that failed only because of a deeper error, and repeats nothing", () => {
    const errs = [
      {
        instancePath: "/rules/0/event",
        keyword: "oneOf",
        params: {},
        message: "must match exactly one schema",
      },
      { instancePath: "/rules/0/event/params/rate", keyword: "type", params: {}, message: "must be string" },
      { instancePath: "/rules/0/event/params/rate", keyword: "type", params: {}, message: "must be string" },
    ];
    expect(problemsOf(errs, { rules: [{ id: "r" }] })).toEqual([
      { ruleId: "r", path: "$.rules[0].event.params.rate", problem: "must be string" },
    ]);
  });

  it("writes JSON paths as the engine's validator does", () => {
    expect(jsonPath("/rules/2/event/params/rate")).toBe("$.rules[2].event.params.rate");
    expect(jsonPath("", "id")).toBe("$.id");
    expect(jsonPath("/a~1b")).toBe('$["a/b"]');
  });
});

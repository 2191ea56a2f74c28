// rules publish / list / diff against the real broker and registry, in a fresh namespace.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AvroCodec, type RuleSetPublished, namespacedTopics } from "@loyalty/contracts";
import { type TestStack, readTopic, requireStack, testKafka, testNamespace } from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO, cli, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

const STANDARD = join(REPO, "rules/standard");

describe("rules publish, list, diff", () => {
  it("publishes a draft once per version, lists it as on the topic, diffs the next draft against it", async () => {
    const ns = testNamespace();
    const env = stackEnv(stack, ns);
    const topic = namespacedTopics(ns).rules.name;

    const empty = await cli(["rules", "list", "--json"], env);
    expect(empty.code).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual({ topic, published: [] });

    const pub = await cli(["rules", "publish", "rules/standard", "--json"], env);
    expect(pub.stderr).toBe("");
    expect(pub.code).toBe(0);
    const p = JSON.parse(pub.stdout) as { id: string; version: number; checksum: string; topic: string };
    const standard = JSON.parse(readFileSync(join(STANDARD, "ruleset.json"), "utf8")) as {
      id: string;
      version: number;
      rules: Array<{ id: string; version: number; priority: number }>;
    };
    expect(p).toMatchObject({ id: standard.id, version: standard.version, topic });

    // On the topic: one Avro publication of that rule set, under its id as key.
    const codec = new AvroCodec(stack.schemaRegistryUrl);
    const msgs = await readTopic(testKafka(stack.kafkaBrokers), topic, (m) => m.length >= 1);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]?.key?.toString()).toBe(standard.id);
    const onTopic = await codec.decode<RuleSetPublished>(msgs[0]?.value as Buffer);
    expect(onTopic).toMatchObject({
      ruleSetId: standard.id,
      version: standard.version,
      checksum: p.checksum,
    });
    // The file's "$schema" (for editors) is not part of the published rule set.
    const { $schema: _editorHint, ...published } = standard as typeof standard & { $schema?: string };
    expect(_editorHint).toBe("../../schemas/ruleset.schema.json");
    expect(JSON.parse(onTopic.ruleSetJson)).toEqual(published);

    // The same version again is refused (exit 1) and nothing more is published.
    const again = await cli(["rules", "publish", "rules/standard"], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refused: standard v1 is not greater than the published v1/);

    const list = await cli(["rules", "list", "--json"], env);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as {
      published: Array<{ id: string; version: number; checksum: string; rules: number }>;
    };
    expect(listed.published).toEqual([
      expect.objectContaining({
        id: standard.id,
        version: standard.version,
        checksum: p.checksum,
        rules: standard.rules.length,
      }),
    ]);

    // A next draft: first rule changed (new version), second removed.
    const [first, second, ...rest] = standard.rules;
    if (!first || !second) throw new Error("the standard programme has at least two rules");
    const dir = mkdtempSync(join(tmpdir(), "loyalty-rules-"));
    cpSync(join(STANDARD, "programme.json"), join(dir, "programme.json"));
    writeFileSync(
      join(dir, "ruleset.json"),
      JSON.stringify({
        ...standard,
        version: standard.version + 1,
        rules: [{ ...first, version: first.version + 1, priority: first.priority + 1 }, ...rest],
      }),
    );
    const diff = await cli(["rules", "diff", dir, "--json"], env);
    expect(diff.code).toBe(0);
    expect(JSON.parse(diff.stdout)).toEqual({
      id: standard.id,
      draftVersion: standard.version + 1,
      publishedVersion: standard.version,
      added: [],
      removed: [{ id: second.id, version: second.version }],
      changed: [
        {
          id: first.id,
          from: first.version,
          to: first.version + 1,
          keys: ["priority", "version"],
          versionUnchanged: false,
        },
      ],
    });
    const text = await cli(["rules", "diff", dir], env);
    expect(text.stdout).toContain(`- ${second.id} v${second.version}`);

    const next = await cli(["rules", "publish", dir, "--json"], env);
    expect(next.code).toBe(0);
    const after = JSON.parse((await cli(["rules", "list", "--json"], env)).stdout) as {
      published: Array<{ version: number }>;
    };
    expect(after.published.map((x) => x.version)).toEqual([standard.version, standard.version + 1]);
  });
});

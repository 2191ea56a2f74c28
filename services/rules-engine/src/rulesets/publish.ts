import type { AvroCodec, RuleSetPublished, TopicSpec } from "@loyalty/contracts";
import type { Kafka } from "kafkajs";
import type { RuleSet } from "../rules/types.ts";
import type { Signer } from "./signing.ts";
import { latestById, publishRuleSet } from "./topic.ts";

// Publishing the next version of a rule set: the one code path behind `loyalty rules publish`
// (apps/cli) and the console server's publish button (apps/console/server/publish.ts). The
// caller has validated the rule set and says what counts as published (the CLI: signed records
// on the topic the engine has not refused, and the versions the engine runs; the console's
// server: signed records on the topic). The version must grow; the schema is registered; the
// publication is signed by `signer` and sent as the caller's Kafka principal (publisher).

/** The version is not greater than the published one. Not retriable: publish a greater one. */
export class PublishRefusedError extends Error {
  readonly retriable = false;
  constructor(
    readonly ruleSetId: string,
    readonly version: number,
    readonly publishedVersion: number,
  ) {
    super(`refused: ${ruleSetId} v${version} is not greater than the published v${publishedVersion}`);
    this.name = "PublishRefusedError";
  }
}

export type PublishOutcome =
  | { published: false; current: RuleSetPublished }
  | { published: true; publication: RuleSetPublished };

export async function publishNextVersion(a: {
  kafka: Kafka;
  codec: AvroCodec;
  topic: TopicSpec;
  ruleSet: RuleSet;
  signer: Signer;
  /** What counts as published (latest per id is compared). */
  published: readonly RuleSetPublished[];
  /** Seeding a namespace: nothing is sent if any version of the id is published. */
  ifUnpublished?: boolean;
}): Promise<PublishOutcome> {
  const current = latestById(a.published).get(a.ruleSet.id);
  if (current && a.ifUnpublished) return { published: false, current };
  if (current && a.ruleSet.version <= current.version)
    throw new PublishRefusedError(a.ruleSet.id, a.ruleSet.version, current.version);
  await a.codec.register(a.topic);
  const publication = await publishRuleSet(a.kafka, a.codec, a.topic, a.ruleSet, a.signer);
  return { published: true, publication };
}

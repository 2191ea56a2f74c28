// The console server's publish button (ADR 18): POST /console/drafts/{draftId}/publish signs a
// submitted draft and publishes it on loyalty.rules.v1 through the same function as
// `loyalty rules publish` (publishNextVersion in the rules engine: version must grow, schema
// registered, signed, sent). The signing key and the publisher's Kafka credentials are this
// server's, from its environment; neither reaches the browser nor the member API (ADR 17).
//
// The draft and its review trail come from the API with the caller's key; with review required
// (CONSOLE_REVIEW=required, the default) the latest review must be an approval, which the API
// accepts only from a key other than the submitter's. The publication's signed `publisher` names
// the key that published, the draft and the approving key; the API's read model then shows the
// draft as published (its audit trail) once it has read the record from the topic.
import type { KeyObject } from "node:crypto";
import {
  AvroCodec,
  type RuleSetPublished,
  type Topics,
  namespacedTopics,
  registryAuth,
} from "@loyalty/contracts";
import { devRulesKeys, readCredentials, withStackCredentials } from "@loyalty/local-stack";
import {
  type ProgrammeFile,
  PublishRefusedError,
  STANDARD_RULES_DIR,
  SigningKeyError,
  publishNextVersion,
  readPublicationRecords,
  readRuleSetSource,
  signerOf,
  signingKeyFromEnv,
} from "@loyalty/rules-engine";
import { kafkaSecurity } from "@loyalty/stream-runtime";
import { Kafka, logLevel } from "kafkajs";
import { ConsoleActionError, validDraft } from "./backtest.ts";

export type ReviewPolicy = "required" | "optional";

export interface PublishConfig {
  /** A client authenticated as the publisher principal. */
  kafka: () => Kafka;
  codec: AvroCodec;
  topics: Topics;
  signingKey: KeyObject;
  /** "environment" (RULES_SIGNING_KEY[_FILE]) or "local-dev" (the local stack's dev key pair). */
  signingKeyFrom: "environment" | "local-dev";
  programme: ProgrammeFile;
  review: ReviewPolicy;
}

/** CONSOLE_REVIEW: `required` (default: a second key must approve) or `optional`. */
export function reviewPolicyOf(env: NodeJS.ProcessEnv): ReviewPolicy {
  const v = env.CONSOLE_REVIEW ?? "required";
  if (v !== "required" && v !== "optional")
    throw new ConsoleActionError(
      500,
      "INTERNAL",
      `CONSOLE_REVIEW must be required or optional, got ${v}`,
      false,
    );
  return v;
}

/**
 * From the environment: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, LOYALTY_NAMESPACE; the publisher's
 * credentials from CONSOLE_PUBLISHER_SASL_USERNAME / CONSOLE_PUBLISHER_SASL_PASSWORD (also used
 * for the registry), else the local stack's `publisher` from its credentials file; the signing
 * key from RULES_SIGNING_KEY / RULES_SIGNING_KEY_FILE, else the local stack's dev key. Null (the
 * console then has no publish button and answers 503) when any of these is missing.
 */
export function publishConfigFromEnv(env: NodeJS.ProcessEnv): PublishConfig | null {
  const brokers = (env.KAFKA_BROKERS ?? "")
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  const registry = env.SCHEMA_REGISTRY_URL ?? "";
  if (brokers.length === 0 || registry === "") return null;
  const user = env.CONSOLE_PUBLISHER_SASL_USERNAME;
  const password = env.CONSOLE_PUBLISHER_SASL_PASSWORD;
  const cleared = {
    ...env,
    KAFKA_SASL_USERNAME: "",
    KAFKA_SASL_PASSWORD: "",
    SCHEMA_REGISTRY_USERNAME: "",
    SCHEMA_REGISTRY_PASSWORD: "",
  };
  let asPublisher: NodeJS.ProcessEnv;
  if (user && password)
    asPublisher = {
      ...cleared,
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD: password,
      SCHEMA_REGISTRY_USERNAME: user,
      SCHEMA_REGISTRY_PASSWORD: password,
    };
  else if (readCredentials(env) !== null) asPublisher = withStackCredentials(cleared, "publisher");
  else return null;
  let signingKey: KeyObject | null;
  let signingKeyFrom: PublishConfig["signingKeyFrom"] = "environment";
  try {
    signingKey = signingKeyFromEnv(env);
    if (signingKey === null) {
      signingKey = signingKeyFromEnv({ RULES_SIGNING_KEY_FILE: devRulesKeys(env).privateKeyFile });
      signingKeyFrom = "local-dev";
    }
  } catch (err) {
    if (err instanceof SigningKeyError) return null;
    throw err;
  }
  if (signingKey === null) return null;
  const { sasl, ssl } = kafkaSecurity(asPublisher);
  const programmeDir = env.CONSOLE_PROGRAMME_DIR ?? STANDARD_RULES_DIR();
  return {
    kafka: () =>
      new Kafka({
        clientId: "loyalty-console-publisher",
        brokers,
        logLevel: logLevel.NOTHING,
        retry: { initialRetryTime: 100, retries: 5 },
        ...(sasl === undefined ? {} : { sasl }),
        ...(ssl === undefined ? {} : { ssl }),
      }),
    codec: new AvroCodec(registry, registryAuth(asPublisher)),
    topics: namespacedTopics(env.LOYALTY_NAMESPACE ?? ""),
    signingKey,
    signingKeyFrom,
    programme: readRuleSetSource(programmeDir).programme,
    review: reviewPolicyOf(env),
  };
}

interface DraftDetail {
  draftId: string;
  ruleSetId: string;
  version: number;
  submittedBy: string;
  ruleSet: unknown;
  reviews: { decision: "approved" | "rejected"; reviewedBy: string }[];
  status: "submitted" | "approved" | "rejected" | "published";
}

export interface PublishAnswer {
  ruleSetId: string;
  version: number;
  publishedAt: string;
  publisher: string;
  keyId: string;
  digest: string | null;
  signingKey: PublishConfig["signingKeyFrom"];
}

/** The check before publishing, pure: why this draft may not be published now, or null. */
export function publishRefusal(d: DraftDetail, review: ReviewPolicy): ConsoleActionError | null {
  if (d.status === "published")
    return new ConsoleActionError(
      409,
      "DRAFT_PUBLISHED",
      `${d.ruleSetId} v${d.version} is already published`,
      false,
    );
  const last = d.reviews.at(-1);
  if (review === "required" && last?.decision !== "approved")
    return new ConsoleActionError(
      409,
      "APPROVAL_REQUIRED",
      last?.decision === "rejected"
        ? "the draft was rejected: it needs an approval by a second key before it is published"
        : "the draft needs an approval by a second key (not the one that submitted it) before it is published",
      false,
    );
  if (last?.decision === "rejected")
    return new ConsoleActionError(409, "DRAFT_REJECTED", "the draft's latest review rejected it", false);
  return null;
}

/** POST /console/drafts/{draftId}/publish by `callerKeyId`: see the file's header. */
export async function publishDraft(
  config: PublishConfig,
  apiUrl: string,
  authorization: string,
  draftId: string,
  callerKeyId: string,
  fetchFn: typeof fetch = fetch,
): Promise<PublishAnswer> {
  const res = await fetchFn(new URL(`/v1/rulesets/drafts/${encodeURIComponent(draftId)}`, apiUrl), {
    headers: { authorization },
  }).catch(() => null);
  if (res === null) throw new ConsoleActionError(502, "UNAVAILABLE", "the member API did not answer", true);
  const body = (await res.json().catch(() => null)) as
    | (DraftDetail & { error?: { code?: string; message?: string } })
    | null;
  if (!res.ok || body === null)
    throw new ConsoleActionError(
      res.status,
      body?.error?.code ?? `HTTP_${res.status}`,
      body?.error?.message ?? `the member API answered ${res.status}`,
      res.status >= 500,
    );
  const refusal = publishRefusal(body, config.review);
  if (refusal !== null) throw refusal;
  const ruleSet = validDraft(body.ruleSet, config.programme);
  const approver = [...body.reviews].reverse().find((r) => r.decision === "approved")?.reviewedBy;
  const publisher = `${callerKeyId} via console (draft ${draftId}${approver ? `, approved by ${approver}` : ""})`;
  const kafka = config.kafka();
  const topic = config.topics.rules;
  try {
    // What counts as published: the signed records on the topic (the CLI also counts the versions
    // the engine runs, from its tables, which this server does not read).
    const records = await readPublicationRecords(kafka, config.codec, topic.name);
    const published = records.flatMap((r): RuleSetPublished[] =>
      r.publication === null || r.publication.signature === null ? [] : [r.publication],
    );
    const outcome = await publishNextVersion({
      kafka,
      codec: config.codec,
      topic,
      ruleSet,
      signer: signerOf(config.signingKey, publisher),
      published,
    });
    if (!outcome.published) throw new ConsoleActionError(500, "INTERNAL", "nothing was published", false);
    const p = outcome.publication;
    return {
      ruleSetId: p.ruleSetId,
      version: p.version,
      publishedAt: new Date(p.publishedAt).toISOString(),
      publisher,
      keyId: p.keyId ?? "",
      digest: p.digest,
      signingKey: config.signingKeyFrom,
    };
  } catch (err) {
    if (err instanceof PublishRefusedError)
      throw new ConsoleActionError(409, "VERSION_NOT_GREATER", err.message, false);
    if (err instanceof ConsoleActionError) throw err;
    throw new ConsoleActionError(503, "UNAVAILABLE", `publishing failed: ${(err as Error).message}`, true);
  }
}

import { SchemaRegistry, SchemaType } from "@kafkajs/confluent-schema-registry";
import type avro from "avsc";
import { avroTypeOf, schemaErrors, schemaOf } from "./schemas.ts";
import { ALL_TOPICS, type TopicSpec, valueSubject } from "./topics.ts";

/** Confluent wire format: magic byte 0, 4-byte schema id, Avro body. */
export function isRegistryFramed(buf: Buffer): boolean {
  return buf.length >= 5 && buf[0] === 0;
}

export class SchemaViolationError extends Error {
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly paths: string[],
  ) {
    super(`value does not match the schema of ${topic} at ${paths.join(", ")}`);
    this.name = "SchemaViolationError";
  }
}

/** HTTP basic credentials for the schema registry. */
export interface RegistryAuth {
  username: string;
  password: string;
}

export class RegistryConfigError extends Error {
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "RegistryConfigError";
  }
}

/**
 * SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD (both or neither) from the environment.
 * A missing half is an error naming the variable; the password's value is never shown.
 */
export function registryAuth(
  env: {
    SCHEMA_REGISTRY_USERNAME?: string | undefined;
    SCHEMA_REGISTRY_PASSWORD?: string | undefined;
  } = process.env,
): RegistryAuth | undefined {
  const username = env.SCHEMA_REGISTRY_USERNAME || undefined;
  const password = env.SCHEMA_REGISTRY_PASSWORD || undefined;
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined)
    throw new RegistryConfigError(
      "SCHEMA_REGISTRY_USERNAME: is required with SCHEMA_REGISTRY_PASSWORD (not set)",
    );
  if (password === undefined)
    throw new RegistryConfigError(
      "SCHEMA_REGISTRY_PASSWORD: is required with SCHEMA_REGISTRY_USERNAME (not set)",
    );
  return { username, password };
}

/**
 * Registers the contract's schemas under TopicNameStrategy subjects with BACKWARD
 * compatibility, then encodes and decodes registry-framed Avro for the services.
 */
export class AvroCodec {
  readonly registry: SchemaRegistry;
  private readonly ids = new Map<string, number>();
  private readonly types = new Map<string, avro.Type>();

  private readonly authHeader: Record<string, string>;

  /** `auth` defaults to the environment's SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD. */
  constructor(
    private readonly url: string,
    auth: RegistryAuth | undefined = registryAuth(),
  ) {
    this.registry = new SchemaRegistry(
      auth === undefined
        ? { host: url }
        : { host: url, auth: { username: auth.username, password: auth.password } },
    );
    this.authHeader =
      auth === undefined
        ? {}
        : { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` };
  }

  async registerAll(topics: readonly TopicSpec[] = ALL_TOPICS): Promise<void> {
    for (const topic of topics) await this.register(topic);
  }

  async register(topic: TopicSpec): Promise<number> {
    const subject = valueSubject(topic.name);
    await this.setCompatibility(subject, "BACKWARD");
    const { id } = await this.registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(schemaOf(topic)) },
      { subject },
    );
    this.ids.set(topic.name, id);
    this.types.set(topic.name, avroTypeOf(topic));
    return id;
  }

  /** Idempotent, and safe when several services set the same level at once (the registry may answer 409 to the loser). */
  async setCompatibility(subject: string, level: "BACKWARD" | "FULL" | "NONE"): Promise<void> {
    const url = `${this.url}/config/${encodeURIComponent(subject)}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      const res = await fetch(url, {
        method: "PUT",
        headers: { "content-type": "application/vnd.schemaregistry.v1+json", ...this.authHeader },
        body: JSON.stringify({ compatibility: level }),
      });
      if (res.ok) return;
      const body = await res.text();
      const current = await fetch(url, { headers: this.authHeader }).then((r) =>
        r.ok ? (r.json() as Promise<{ compatibilityLevel?: string }>) : null,
      );
      if (current?.compatibilityLevel === level) return;
      if (res.status !== 409)
        throw new Error(`registry refused compatibility ${level} for ${subject}: ${res.status} ${body}`);
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
    throw new Error(`registry kept refusing compatibility ${level} for ${subject}`);
  }

  /** Encodes with the registered schema; a value that breaks it is refused before it is sent. */
  async encode(topic: TopicSpec, value: unknown): Promise<Buffer> {
    const id = this.ids.get(topic.name);
    const type = this.types.get(topic.name);
    if (id === undefined || !type)
      throw new Error(`schema for ${topic.name} is not registered; call registerAll() at start-up`);
    if (!type.isValid(value)) throw new SchemaViolationError(topic.name, schemaErrors(type, value));
    const body = type.toBuffer(value);
    const out = Buffer.allocUnsafe(5 + body.length);
    out[0] = 0;
    out.writeInt32BE(id, 1);
    body.copy(out, 5);
    return out;
  }

  /** Decodes any registry-framed Avro (the writer's schema is fetched by id and cached). */
  async decode<T>(buf: Buffer): Promise<T> {
    return (await this.registry.decode(buf)) as T;
  }
}

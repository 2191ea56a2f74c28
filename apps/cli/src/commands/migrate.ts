// `loyalty migrate`: database migrations, topics and schema registration for the namespace
// (LOYALTY_NAMESPACE): what every service also does at its own start.
import { AvroCodec, registryAuth } from "@loyalty/contracts";
import { migrate as applyMigrations } from "@loyalty/db";
import { grantNamespace, withStackCredentials } from "@loyalty/local-stack";
import { ensureTopics } from "@loyalty/stream-runtime";
import { namespace, topics, translateDbError, withAdmin } from "../connections.ts";
import { type CliContext, endpointsOf, printJson } from "../context.ts";
import { EXIT, StackUnavailableError, isConnectionFailure } from "../errors.ts";

export interface Provisioned {
  namespace: string;
  migrationsApplied: string[];
  topicsCreated: string[];
  schemasRegistered: string[];
}

/** Migrations, topics and schemas of the context's namespace. */
export async function provision(ctx: CliContext): Promise<Provisioned> {
  const ns = namespace(ctx);
  const e = endpointsOf(ctx);
  let migrationsApplied: string[];
  try {
    migrationsApplied = await applyMigrations(e.databaseUrl, undefined, ns);
  } catch (err) {
    throw translateDbError(err, e.databaseUrl, ns);
  }
  const all = Object.values(topics(ctx));
  const secured = withStackCredentials(ctx.env).KAFKA_SASL_USERNAME !== undefined;
  const topicsCreated = await withAdmin(ctx, "loyalty-cli-migrate", async (admin) => {
    // The namespace's ACLs (schemas/asyncapi.yaml), so that its services may use its topics.
    if (secured) await grantNamespace(admin, ns);
    return ensureTopics(admin, {
      partitions: Number(ctx.env.LOYALTY_PARTITIONS ?? 6),
      replication: Number(ctx.env.LOYALTY_REPLICATION ?? 1),
      topics: all,
    });
  });
  try {
    await new AvroCodec(e.schemaRegistryUrl, registryAuth(withStackCredentials(ctx.env))).registerAll(all);
  } catch (err) {
    if (isConnectionFailure(err))
      throw new StackUnavailableError(
        `schema registry at ${e.schemaRegistryUrl} is not reachable (SCHEMA_REGISTRY_URL)`,
        { cause: err },
      );
    throw err;
  }
  return {
    namespace: ns,
    migrationsApplied,
    topicsCreated,
    schemasRegistered: all.map((t) => `${t.name}-value`),
  };
}

export async function run(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const p = await provision(ctx);
  if (opts.json) printJson(ctx, p);
  else {
    const where = p.namespace ? ` (namespace ${p.namespace})` : "";
    ctx.out(
      p.migrationsApplied.length
        ? `migrate: applied ${p.migrationsApplied.join(", ")}${where}`
        : `migrate: database up to date${where}`,
    );
    ctx.out(p.topicsCreated.length ? `topics: created ${p.topicsCreated.join(", ")}` : "topics: all present");
    ctx.out(`schemas: ${p.schemasRegistered.length} registered (BACKWARD compatibility)`);
  }
  return EXIT.ok;
}

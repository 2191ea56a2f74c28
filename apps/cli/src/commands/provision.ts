import { AvroCodec } from "@loyalty/contracts";
import { migrate } from "@loyalty/db";
import { endpointsFromEnv } from "@loyalty/local-stack";
import { createKafka, createLogger, ensureTopics } from "@loyalty/stream-runtime";

/** Migrations, topics and schemas: what every service also checks at its own start. */
export async function provision(_args: string[]): Promise<number> {
  const e = endpointsFromEnv();
  const applied = await migrate(e.databaseUrl);
  console.log(applied.length ? `migrate: applied ${applied.join(", ")}` : "migrate: database up to date");
  const kafka = createKafka({
    clientId: "loyalty-cli",
    brokers: e.kafkaBrokers,
    logger: createLogger("cli", "warn"),
    level: "warn",
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopics(admin, {
      partitions: Number(process.env.LOYALTY_PARTITIONS ?? 6),
      replication: Number(process.env.LOYALTY_REPLICATION ?? 1),
    });
    console.log(created.length ? `topics: created ${created.join(", ")}` : "topics: all present");
  } finally {
    await admin.disconnect();
  }
  await new AvroCodec(e.schemaRegistryUrl).registerAll();
  console.log("schemas: registered (BACKWARD compatibility)");
  return 0;
}

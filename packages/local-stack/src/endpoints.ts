// The environment variable names shared by the local scripts, the services and docker-compose.
export interface Endpoints {
  kafkaBrokers: string[];
  schemaRegistryUrl: string;
  databaseUrl: string;
  redisUrl: string;
}

export const DEFAULT_ENDPOINTS: Readonly<Endpoints> = {
  kafkaBrokers: ["127.0.0.1:9092"],
  schemaRegistryUrl: "http://127.0.0.1:8081/apis/ccompat/v7",
  databaseUrl: "postgres://postgres@127.0.0.1:5432/loyalty",
  redisUrl: "redis://127.0.0.1:6379/0",
};

export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoints {
  return {
    kafkaBrokers: (env.KAFKA_BROKERS ?? DEFAULT_ENDPOINTS.kafkaBrokers.join(","))
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL ?? DEFAULT_ENDPOINTS.schemaRegistryUrl,
    databaseUrl: env.DATABASE_URL ?? DEFAULT_ENDPOINTS.databaseUrl,
    redisUrl: env.REDIS_URL ?? DEFAULT_ENDPOINTS.redisUrl,
  };
}

/** The database tests use unless DATABASE_URL names another: never the demo's `loyalty`. */
export const TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loyalty_test";

/** Endpoints for tests and benchmarks: as endpointsFromEnv, with the test database by default. */
export function testEndpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoints {
  return { ...endpointsFromEnv(env), databaseUrl: env.DATABASE_URL ?? TEST_DATABASE_URL };
}

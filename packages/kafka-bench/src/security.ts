// How the bench's clients authenticate: as every developer tool of the project (docs/security.md,
// "Kafka"). KAFKA_SASL_MECHANISM / KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD, KAFKA_SSL and
// KAFKA_SSL_CA_FILE from the environment; with no KAFKA_SASL_USERNAME, the local stack's `admin`
// principal from its credentials file (withStackCredentials, LOYALTY_STACK_DIR names the stack).
// The runtime's kafkaSecurity checks and reads them, so a bad setting is the services' ConfigError.
// admin is the broker's super user: the bench creates and deletes its kbench_* topics and groups
// and uses transactional ids, which no service principal may.
import { withStackCredentials } from "@loyalty/local-stack";
import { ConfigError, type KafkaSecurity, kafkaSecurity } from "@loyalty/stream-runtime";

export type { KafkaSecurity };

/** SASL with a username and password: the mechanisms kafkaSecurity accepts. */
export interface PasswordSasl {
  mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  username: string;
  password: string;
}

/** The bench's TLS and SASL settings, from this process's environment. */
export function benchSecurity(env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  return kafkaSecurity(withStackCredentials(env));
}

/** The SASL settings as the clients other than kafkajs take them (mechanism, user, password). */
export function passwordSasl(security: KafkaSecurity): PasswordSasl | undefined {
  const sasl = security.sasl;
  if (sasl === undefined) return undefined;
  if (sasl.mechanism !== "plain" && sasl.mechanism !== "scram-sha-256" && sasl.mechanism !== "scram-sha-512")
    throw new ConfigError([`SASL mechanism ${sasl.mechanism}: the bench's clients take plain or scram only`]);
  return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
}

/** How the run authenticated, for its results (no password). */
export function describeSecurity(security: KafkaSecurity): string {
  const sasl = passwordSasl(security);
  const protocol = `${sasl ? "SASL_" : ""}${security.ssl ? "SSL" : "PLAINTEXT"}`;
  return sasl ? `${protocol}, ${sasl.mechanism.toUpperCase()} as ${sasl.username}` : protocol;
}

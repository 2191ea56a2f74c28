// Creates the broker's ACLs generated from schemas/asyncapi.yaml (see acl.ts), as the admin
// principal, for the production namespace and any namespaces named on the command line; prints
// each grant. Used by docker-compose's kafka-acls step; operators run it after changing the
// contract. Idempotent; topic ACLs the contract no longer grants are revoked.
//
//   KAFKA_BROKERS=... KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD=... \
//     node --import tsx packages/local-stack/src/apply-acls.ts [--registry] [namespace ...]
import { readFileSync } from "node:fs";
import { Kafka, logLevel } from "kafkajs";
import { applyGrants, grantKey, namespaceGrants, registryGrants, revokeStaleTopicGrants } from "./acl.ts";
import { endpointsFromEnv } from "./endpoints.ts";

const args = process.argv.slice(2);
const withRegistry = args.includes("--registry");
const namespaces = ["", ...args.filter((a) => a !== "--registry")];
const { KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = process.env;
if (!username || !password) {
  process.stderr.write(
    "apply-acls: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (the admin principal) are required\n",
  );
  process.exit(2);
}
const grants = [
  ...namespaces.flatMap((ns) => namespaceGrants(ns)),
  ...(withRegistry ? registryGrants() : []),
];
const admin = new Kafka({
  clientId: "loyalty-acls",
  brokers: endpointsFromEnv().kafkaBrokers,
  logLevel: logLevel.ERROR,
  ...(process.env.KAFKA_SSL_CA_FILE
    ? { ssl: { ca: [readFileSync(process.env.KAFKA_SSL_CA_FILE, "utf8")] } }
    : { ssl: process.env.KAFKA_SSL === "true" }),
  sasl: { mechanism: "scram-sha-512", username, password },
}).admin();
await admin.connect();
try {
  await applyGrants(admin, grants);
  const revoked = await revokeStaleTopicGrants(admin, grants);
  if (revoked > 0)
    process.stdout.write(`apply-acls: revoked ${revoked} topic ACLs the contract no longer grants\n`);
  for (const g of grants) process.stdout.write(`${grantKey(g)}\n`);
  process.stdout.write(`apply-acls: ${grants.length} ACLs in place\n`);
} finally {
  await admin.disconnect();
}

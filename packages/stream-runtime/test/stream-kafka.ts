// The tests' runtime client (@confluentinc/kafka-javascript), authenticated as testKafka is: the
// stack's admin principal, through the testkit's credential helpers.
import { saslOf, sslOf } from "@loyalty/testkit";
import { type StreamKafka, createLogger, createStreamKafka } from "../src/index.ts";

export function testStreamKafka(brokers: string[]): StreamKafka {
  const sasl = saslOf();
  const ssl = sslOf();
  return createStreamKafka({
    clientId: "loyalty-test",
    brokers,
    logger: createLogger("loyalty-test", "error"),
    level: "error",
    security: { ...(sasl === undefined ? {} : { sasl }), ...(ssl === undefined ? {} : { ssl }) },
  });
}

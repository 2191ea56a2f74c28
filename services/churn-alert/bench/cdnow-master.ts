// Replays CDNOW_master.txt (canonical purchases in time order) through churn-alert to its end and
// prints the fitted parameters, the alerts and the segment sizes. Needs the local stack.
//   DATABASE_URL=… node --import tsx services/churn-alert/bench/cdnow-master.ts
import { createPool, migrate } from "@loyalty/db";
import { requireStack, testNamespace } from "@loyalty/testkit";
import { DEFAULT_SETTINGS } from "../src/config.ts";
import { fitAsOf, populationReport } from "../src/queries.ts";
import { listFits } from "../src/store/fits.ts";
import {
  canonicalCdnow,
  provision,
  publish,
  startService,
  stop,
  waitUntilCaughtUp,
} from "../test/support.ts";

const stack = await requireStack();
const ns = testNamespace();
await migrate(stack.databaseUrl, undefined, ns);
const pool = createPool(stack.databaseUrl, { max: 2, namespace: ns });
const events = canonicalCdnow("CDNOW_master.txt");
const { codec, topics } = await provision(stack, ns);
await publish(stack, codec, topics.purchases!, events);
const started = Date.now();
const child = startService(stack, ns, { CONSUMER_SESSION_TIMEOUT_MS: "60000", LOG_LEVEL: "warn" });
try {
  await waitUntilCaughtUp(pool, events.length, events[events.length - 1]!.eventTime, 3_600_000);
} finally {
  await stop(child);
}
const fits = (await listFits(pool, 1000)).filter((f) => f.trigger === "schedule");
const last = fits[0]!;
const calibration = await fitAsOf(pool, Date.UTC(1997, 8, 30));
const report = await populationReport(pool, DEFAULT_SETTINGS);
console.log(
  JSON.stringify(
    {
      namespace: ns,
      events: events.length,
      seconds: Math.round((Date.now() - started) / 1000),
      scheduledFits: fits.length,
      modelInForce: {
        version: last.modelVersion,
        bgnbd: last.bgnbd,
        ll: last.logLikelihood,
        members: last.members,
        gammaGamma: last.gammaGamma,
      },
      asOf19970930: {
        bgnbd: calibration.bgnbd,
        ll: calibration.logLikelihood,
        members: calibration.members,
        gammaGamma: calibration.gammaGamma,
      },
      report,
    },
    null,
    2,
  ),
);
await pool.end();
process.exit(0);

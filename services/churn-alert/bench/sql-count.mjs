// Preloaded into the service for the replay-cost bench: counts SQL statements sent.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
const req = createRequire(`${process.cwd()}/packages/db/package.json`);
const pg = req("pg");
let n = 0;
const orig = pg.Client.prototype.query;
pg.Client.prototype.query = function (...a) {
  n++;
  return orig.apply(this, a);
};
process.on("exit", () => {
  if (process.env.SQL_COUNT_FILE) writeFileSync(process.env.SQL_COUNT_FILE, String(n));
});

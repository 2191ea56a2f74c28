// Preloaded into the service for the replay-cost bench: counts SQL statements sent, and with
// SQL_PROFILE_FILE set, sums their round-trip time by statement (first line of its text).
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
const req = createRequire(`${process.cwd()}/packages/db/package.json`);
const pg = req("pg");
let n = 0;
const byText = new Map();
const profile = process.env.SQL_PROFILE_FILE;
const orig = pg.Client.prototype.query;
pg.Client.prototype.query = function (...a) {
  n++;
  const r = orig.apply(this, a);
  if (profile && r && typeof r.then === "function") {
    const text = typeof a[0] === "string" ? a[0] : (a[0]?.text ?? "?");
    const key = text.trim().split("\n")[0].slice(0, 90);
    const t0 = process.hrtime.bigint();
    const done = () => {
      const s = byText.get(key) ?? { n: 0, ms: 0 };
      s.n++;
      s.ms += Number(process.hrtime.bigint() - t0) / 1e6;
      byText.set(key, s);
    };
    r.then(done, done);
  }
  return r;
};
process.on("exit", () => {
  if (process.env.SQL_COUNT_FILE) writeFileSync(process.env.SQL_COUNT_FILE, String(n));
  if (profile) {
    const rows = [...byText].sort((p, q) => q[1].ms - p[1].ms);
    writeFileSync(profile, rows.map(([k, s]) => `${s.ms.toFixed(0)} ms\t${s.n}\t${k}`).join("\n"));
  }
});

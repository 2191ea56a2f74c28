import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { probePostgres, testEndpointsFromEnv } from "@loyalty/local-stack";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureDatabase } from "../src/index.ts";

// LOYALTY_SQL_PROFILE=1 is a diagnostic whose product is what it prints at exit: the time per
// statement. It missed every pool.query (pg's Pool passes a callback, not a promise).
const server = testEndpointsFromEnv().databaseUrl;
const run = promisify(execFile);

beforeAll(async () => {
  const p = await probePostgres(server);
  if (!p.ok)
    throw new Error(`PostgreSQL is unreachable at ${server} (${p.detail}): start it or set DATABASE_URL`);
  await ensureDatabase(server);
});

describe("LOYALTY_SQL_PROFILE", () => {
  it("times statements sent through the pool and through a client", async () => {
    const { stderr } = await run(
      process.execPath,
      ["--import", "tsx", new URL("./fixtures/sql-profile.ts", import.meta.url).pathname],
      { env: { ...process.env, DATABASE_URL: server, LOYALTY_SQL_PROFILE: "1" } },
    );
    const line = (text: string) => stderr.split("\n").find((l) => l.includes(text));
    expect(line("select 1 as through_the_pool")).toMatch(
      /^sql +\d+\.\d\d s +1× select 1 as through_the_pool$/,
    );
    expect(line("select 2 as through_a_client")).toMatch(
      /^sql +\d+\.\d\d s +1× select 2 as through_a_client$/,
    );
  });
});

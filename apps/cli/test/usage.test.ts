// Usage errors name the flag or argument and what it expects, and exit 2; an unreachable stack
// exits 3. None of these needs the stack: they fail before anything is opened.
import { describe, expect, it } from "vitest";
import { cli, cliProcess } from "./helpers.ts";

const cases: Array<[string, string[], RegExp]> = [
  ["negative rate", ["replay", "orders.jsonl", "--rate", "-5"], /--rate must be a positive integer, got -5/],
  ["rate with =", ["replay", "orders.jsonl", "--rate=abc"], /--rate must be a positive integer, got abc/],
  ["zero limit", ["replay", "orders.jsonl", "--limit", "0"], /--limit must be a positive integer, got 0/],
  [
    "unknown format",
    ["replay", "orders.jsonl", "--format", "csv"],
    /--format must be one of cdnow, cdnow-master, cdnow-sample, jsonl, got csv/,
  ],
  ["missing file", ["replay", "no-such-orders.jsonl"], /no such file no-such-orders\.jsonl/],
  ["no file", ["replay"], /missing required argument 'file'/],
  ["bad --at", ["tiers", "stats", "--at", "yesterday"], /--at must be a date YYYY-MM-DD .* got yesterday/],
  ["impossible day", ["tiers", "stats", "--at", "1997-02-30"], /--at must be a date/],
  ["unknown option", ["tiers", "stats", "--bogus"], /unknown option '--bogus'/],
  ["unknown command", ["tier"], /unknown command 'tier'/],
  ["unknown subcommand", ["rules", "lint"], /unknown command 'lint'/],
  ["member without id", ["member", "show"], /missing required argument 'id'/],
  ["ledger balance without member", ["ledger", "balance"], /missing required argument 'member'/],
  [
    "bad --as-of",
    ["churn", "model", "--refit", "--as-of", "1997-13-01"],
    /--as-of must be a date YYYY-MM-DD, got 1997-13-01/,
  ],
  ["--as-of without --refit", ["churn", "model", "--as-of", "1997-12-31"], /--as-of goes with --refit/],
  [
    "calibrate without --holdout-end",
    ["churn", "calibrate", "--calibration-end", "1997-09-30"],
    /required option '--holdout-end <day>' not specified/,
  ],
  [
    "calibrate with a bad day",
    ["churn", "calibrate", "--calibration-end", "1997-09-31", "--holdout-end", "1998-06-30"],
    /--calibration-end must be a date YYYY-MM-DD, got 1997-09-31/,
  ],
  [
    "calibrate with the holdout before the calibration end",
    ["churn", "calibrate", "--calibration-end", "1997-09-30", "--holdout-end", "1997-09-30"],
    /--holdout-end \(1997-09-30\) must come after --calibration-end \(1997-09-30\)/,
  ],
  [
    "simulate without --orders",
    ["rules", "simulate", "--rules", "rules/standard"],
    /required option '--orders <file>' not specified/,
  ],
  [
    "simulate with a missing orders file",
    ["rules", "simulate", "--rules", "rules/standard", "--orders", "nope.txt"],
    /--orders nope\.txt: ENOENT/,
  ],
  [
    "validate a missing path",
    ["rules", "validate", "no/such/dir"],
    /rule set no\/such\/dir: .*no such file or directory/,
  ],
  ["demo with a bad limit", ["demo", "--limit", "1.5"], /--limit must be a positive integer, got 1\.5/],
  ["up with a bad rate", ["up", "--rate", "-1"], /--rate must be a positive integer, got -1/],
  [
    "bench rate not a multiple of 20",
    ["bench", "e2e", "--rate", "50"],
    /--rate must be a positive multiple of 20, got 50/,
  ],
  ["bench seconds", ["bench", "e2e", "--seconds", "0"], /--seconds must be a positive integer, got 0/],
  [
    "bench profile",
    ["bench", "e2e", "--profile", "kafka"],
    /--profile must be one of ingestor, rules-engine, tier-evaluator, churn-alert, api, got kafka/,
  ],
  ["extra argument", ["tiers", "stats", "extra"], /too many arguments/],
];

describe("usage errors", () => {
  it.each(cases)("%s: exit 2, names what is wrong", async (_, args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("an invalid LOYALTY_NAMESPACE is a usage error, before any connection", async () => {
    const r = await cli(["tiers", "stats"], { LOYALTY_NAMESPACE: "Bad-Name" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/LOYALTY_NAMESPACE must match .* got Bad-Name/);
  });

  it("a malformed port variable stops demo, up and bench before anything starts", async () => {
    const demo = await cli(["demo", "--fresh"], { LOYALTY_OPS_PORT_BASE: "ninety" });
    expect(demo.code).toBe(2);
    expect(demo.stderr).toMatch(/LOYALTY_OPS_PORT_BASE must be a port number 1024-65000, got ninety/);
    const up = await cli(["up", "--no-demo"], { API_PORT: "-1" });
    expect(up.code).toBe(2);
    expect(up.stderr).toMatch(/API_PORT must be a port number, got -1/);
    const bench = await cli(["bench", "e2e"], { LOYALTY_OPS_PORT_BASE: "80" });
    expect(bench.code).toBe(2);
  });

  it("the real binary: `replay --rate -5` exits 2 with the flag named (it said 'argument is ambiguous')", async () => {
    const r = await cliProcess(["replay", "x.jsonl", "--rate", "-5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("loyalty replay: --rate must be a positive integer, got -5");
    expect(r.stderr).not.toContain("ambiguous");
  });
});

describe("an unreachable stack", () => {
  it("PostgreSQL refusing connections is exit 3, naming DATABASE_URL without its password", async () => {
    const r = await cli(["tiers", "stats"], { DATABASE_URL: "postgres://u:secret@127.0.0.1:1/x" });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x is not reachable \(DATABASE_URL\)/,
    );
    expect(r.stderr).not.toContain("secret");
  });

  it("stack status with nothing reachable exits 1 and says what is down", async () => {
    const r = await cli(["stack", "status", "--json"], {
      KAFKA_BROKERS: "127.0.0.1:1",
      SCHEMA_REGISTRY_URL: "http://127.0.0.1:1/apis/ccompat/v7",
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/x",
      REDIS_URL: "redis://127.0.0.1:1/0",
    });
    expect(r.code).toBe(1);
    const s = JSON.parse(r.stdout) as { ok: boolean; parts: Record<string, { ok: boolean }> };
    expect(s.ok).toBe(false);
    expect(Object.values(s.parts).every((p) => !p.ok)).toBe(true);
    expect(r.stderr).toMatch(/kafka.*down/);
  });
});

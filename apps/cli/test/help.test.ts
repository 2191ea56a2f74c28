// --help on every command and subcommand, and the root help listing them all.
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../src/program.ts";
import { cli, cliProcess } from "./helpers.ts";

/** Every command path of the real program, groups included. */
function paths(): string[][] {
  const program = buildProgram(
    { env: {}, out: () => undefined, err: () => undefined, tty: false, cwd: "." },
    () => undefined,
  );
  const out: string[][] = [];
  const walk = (c: Command, prefix: string[]) => {
    for (const sub of c.commands) {
      out.push([...prefix, sub.name()]);
      walk(sub, [...prefix, sub.name()]);
    }
  };
  walk(program, []);
  return out;
}

const leaves = () =>
  paths().filter((p) => !paths().some((q) => q.length > p.length && p.every((x, i) => q[i] === x)));

describe("loyalty --help", () => {
  it("the real binary lists every command, the exit codes and the environment, and exits 0", async () => {
    const r = await cliProcess(["--help"]);
    expect(r.code).toBe(0);
    for (const p of leaves()) expect(r.stdout).toContain(`  ${p.join(" ")} `);
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*\n {2}2 {4}usage error/);
    expect(r.stdout).toContain("LOYALTY_NAMESPACE");
  });

  it("covers the commands the README promises", () => {
    const all = paths().map((p) => p.join(" "));
    for (const c of [
      "stack up",
      "stack down",
      "stack status",
      "migrate",
      "up",
      "demo",
      "replay",
      "rules validate",
      "rules publish",
      "rules list",
      "rules diff",
      "rules simulate",
      "rules backtest",
      "rules keygen",
      "ledger verify",
      "ledger balance",
      "tiers stats",
      "churn model",
      "churn report",
      "churn calibrate",
      "member show",
      "keys create",
      "keys list",
      "keys revoke",
      "keys expire",
      "bench e2e",
    ])
      expect(all).toContain(c);
  });

  it.each(paths().map((p) => [p.join(" "), p] as const))(
    "%s --help prints usage and an example, exit 0",
    async (_, p) => {
      const r = await cli([...p, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: loyalty ${p.join(" ")}`);
      expect(r.stdout).toMatch(/Examples?:\n {2}\$ pnpm (loyalty|bench)/);
    },
  );

  it("the two the issue named print help as child processes too (they printed nothing, exit 1)", async () => {
    for (const p of [["replay"], ["tiers", "stats"]]) {
      const r = await cliProcess([...p, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: loyalty ${p.join(" ")}`);
    }
  });

  it("a group without its subcommand shows the group's help as a usage error", async () => {
    const r = await cli(["tiers"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("stats");
  });

  it("no command at all is a usage error with the help", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("All commands:");
  });
});

// `stack up` and `stack status` against the running stack. `stack up` finds Kafka and the registry
// answering and starts nothing. (`stack down` is not run: the stack is shared by every test.)
import { authOf, probeAll, readCredentials } from "@loyalty/local-stack";
import { type TestStack, requireStack } from "@loyalty/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import { cli, stackEnv } from "./helpers.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await requireStack();
});

describe("loyalty stack", () => {
  it("status --json reports each part as the probes see it", async () => {
    const r = await cli(["stack", "status", "--json"], stackEnv(stack, ""));
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { ok: boolean; parts: Record<string, { ok: boolean }> };
    // As the CLI does: the stack's admin principal (SASL on the broker, basic auth on the registry).
    const probes = await probeAll(stack, authOf(readCredentials()));
    expect(s.ok).toBe(true);
    expect(Object.fromEntries(Object.entries(s.parts).map(([k, v]) => [k, v.ok]))).toEqual(
      Object.fromEntries(Object.entries(probes).map(([k, v]) => [k, v.ok])),
    );
  });

  it("up --json on a running stack starts nothing and reports every part up", async () => {
    const r = await cli(["stack", "up", "--json"], stackEnv(stack, ""));
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/starting (Kafka|Apicurio)/);
    expect((JSON.parse(r.stdout) as { ok: boolean }).ok).toBe(true);
  });
});

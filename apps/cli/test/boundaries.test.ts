// The CLI is an app: libraries and services must not import it (it imports them).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers.ts";

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|tsx|js|mjs|json)$/.test(name)) out.push(path);
  }
  return out;
}

describe("nothing under packages/ or services/ imports the CLI", () => {
  it("no import of @loyalty/cli or apps/cli, no dependency on it", () => {
    const offenders = [...sources(join(REPO, "packages")), ...sources(join(REPO, "services"))]
      .filter((f) => /@loyalty\/cli\b|apps\/cli\/|packages\/cli\//.test(readFileSync(f, "utf8")))
      .map((f) => relative(REPO, f));
    expect(offenders).toEqual([]);
  });
});

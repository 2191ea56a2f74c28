import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DatasetNotFoundError, SHIPPED_DATASETS, cdnow, datasetFile, datasetsDir } from "../src/index.ts";

describe("datasets", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("ships CDNOW in the repository, byte for byte as published (CRLF, 69,659 orders)", () => {
    vi.stubEnv("LOYALTY_DATASETS", undefined);
    expect(datasetsDir()).toBe(SHIPPED_DATASETS);
    const master = readFileSync(cdnow.master(), "latin1");
    expect(master.includes("\r\n")).toBe(true);
    const rows = master.split("\r\n").filter((l) => l.trim() !== "");
    expect(rows.length - 1).toBe(69_659); // header line first
    const customers = new Set(rows.slice(1).map((l) => l.trim().split(/\s+/)[0]));
    expect(customers.size).toBe(23_570);
    const sample = readFileSync(cdnow.sample(), "latin1")
      .split("\r\n")
      .filter((l) => l.trim() !== "");
    expect(sample.length).toBe(6_919);
    const summary = readFileSync(cdnow.summary(), "utf8").trim().split("\n");
    expect(summary.length - 1).toBe(2_357);
  });

  it("LOYALTY_DATASETS overrides the shipped folder, and a missing file says where it looked", () => {
    vi.stubEnv("LOYALTY_DATASETS", "/nonexistent-datasets");
    expect(datasetsDir()).toBe("/nonexistent-datasets");
    expect(() => datasetFile("cdnow", "CDNOW_master.txt")).toThrow(DatasetNotFoundError);
    expect(() => datasetFile("cdnow", "CDNOW_master.txt")).toThrow(
      /LOYALTY_DATASETS points at a folder without it/,
    );
  });
});

// Analytic gradients against central differences of the value.

import { expect } from "vitest";
import type { Objective } from "../../src/model/index.ts";

/**
 * Checks every component of the gradient at v against (f(v + h e_i) − f(v − h e_i)) / 2h. The step
 * balances truncation (h² f''') and rounding (ε |f| / h); the tolerance allows for both.
 */
export function expectGradientMatches(objective: Objective, v: readonly number[], h = 1e-5): void {
  const gradient = new Array<number>(v.length).fill(0);
  const f = objective.valueAndGradient(v, gradient);
  expect(Number.isFinite(f)).toBe(true);
  v.forEach((_, i) => {
    const up = v.slice();
    const down = v.slice();
    up[i] = up[i]! + h;
    down[i] = down[i]! - h;
    const central = (objective.value(up) - objective.value(down)) / (2 * h);
    const tolerance = 1e-7 * (1 + Math.abs(central)) + (1e-15 * Math.abs(f)) / h;
    expect(Math.abs(gradient[i]! - central), `∂f/∂v${i} at ${v.join(", ")}`).toBeLessThan(tolerance);
  });
}

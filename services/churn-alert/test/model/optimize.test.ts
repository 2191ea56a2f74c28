import { describe, expect, it } from "vitest";
import { type Objective, bfgs, minimize, nelderMead } from "../../src/model/index.ts";

const rosenbrock: Objective = {
  value: ([x = 0, y = 0]) => 100 * (y - x * x) ** 2 + (1 - x) ** 2,
  valueAndGradient: ([x = 0, y = 0], g) => {
    g[0] = -400 * x * (y - x * x) - 2 * (1 - x);
    g[1] = 200 * (y - x * x);
    return 100 * (y - x * x) ** 2 + (1 - x) ** 2;
  },
};

// Σ s_i (x_i − c_i)² with curvatures spread over eight orders of magnitude.
const scales = [1e4, 1, 1e-2, 1e-4];
const centre = [0.3, -2, 5, 1];
const quadratic: Objective = {
  value: (x) => x.reduce((s, v, i) => s + scales[i]! * (v - centre[i]!) ** 2, 0),
  valueAndGradient: (x, g) => {
    x.forEach((v, i) => {
      g[i] = 2 * scales[i]! * (v - centre[i]!);
    });
    return x.reduce((s, v, i) => s + scales[i]! * (v - centre[i]!) ** 2, 0);
  },
};

describe("bfgs", () => {
  it("minimises the Rosenbrock function from the classic start", () => {
    const r = bfgs(rosenbrock.valueAndGradient, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.stop).toBe("gradient");
    expect(r.x[0]).toBeCloseTo(1, 7);
    expect(r.x[1]).toBeCloseTo(1, 7);
    expect(r.fx).toBeLessThan(1e-14);
    // Nelder–Mead needs several times as many evaluations for the same problem.
    expect(r.evaluations).toBeLessThan(100);
  });

  it("handles a badly scaled quadratic", () => {
    const r = bfgs(quadratic.valueAndGradient, [0, 0, 0, 0], { gradTol: 1e-12 });
    expect(r.converged).toBe(true);
    r.x.forEach((v, i) => {
      expect(v).toBeCloseTo(centre[i]!, 6);
    });
    // Each new direction starts 1e4 times too short (H is scaled to the stiffest curvature first).
    expect(r.evaluations).toBeLessThan(80);
  });

  it("backs off from points where f is not finite", () => {
    // Defined for x > 0 only, minimum at x = 1. From x = 5 the secant curvature of the first step is
    // far too small and the quasi-Newton step lands at x < 0.
    let outside = 0;
    const r = bfgs(
      ([x = 0], g) => {
        if (!(x > 0)) outside++;
        g[0] = x > 0 ? 50 - 50 / x : Number.NaN;
        return x > 0 ? 50 * x - 50 * Math.log(x) : Number.NaN;
      },
      [5],
    );
    expect(outside).toBeGreaterThan(0);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 8);
    const inf = bfgs(
      ([x = 0, y = 0], g) => {
        g[0] = 2 * x;
        g[1] = 2 * (y - 3);
        return x * x + (y - 3) ** 2 + (y > 2.5 ? Number.POSITIVE_INFINITY : 0);
      },
      [4, 0],
    );
    // The minimum lies in the infinite region: it settles on the edge, never at an infinite point.
    expect(Number.isFinite(inf.fx)).toBe(true);
    expect(inf.x[1]).toBeLessThanOrEqual(2.5);
  });

  it("reports a start where f is not finite instead of moving", () => {
    const r = bfgs(
      (_, g) => {
        g[0] = 0;
        return Number.NaN;
      },
      [1],
    );
    expect(r).toMatchObject({ converged: false, stop: "non-finite", iterations: 0, evaluations: 1 });
  });

  it("stops on a ridge out to infinity: flat steps, no hang, not converged", () => {
    // inf f = 0 is approached as u → −∞ (any v): no minimum. The u-slope e^u never drops below gradTol
    // before the decrease per step is negligible.
    const ridge = (x: readonly number[], g: number[]): number => {
      const [u = 0, v = 0] = x;
      g[0] = Math.exp(u) * (1 + 1e-3 * v * v);
      g[1] = 2e-3 * v * Math.exp(u) + 2 * (v - 1);
      return Math.exp(u) * (1 + 1e-3 * v * v) + (v - 1) ** 2;
    };
    const r = bfgs(ridge, [0, 0], { gradTol: 1e-30 });
    expect(r.stop).toBe("stalled");
    expect(r.converged).toBe(false);
    expect(r.fx).toBeLessThan(1e-11);
    expect(r.x[1]).toBeCloseTo(1, 6);
    // Deterministic: the same inputs give the same path.
    expect(bfgs(ridge, [0, 0], { gradTol: 1e-30 })).toEqual(r);
  });

  it("respects the iteration cap", () => {
    const r = bfgs(rosenbrock.valueAndGradient, [-1.2, 1], { maxIterations: 3 });
    expect(r).toMatchObject({ converged: false, stop: "max-iterations", iterations: 3 });
  });
});

describe("minimize", () => {
  it("uses BFGS and agrees with Nelder–Mead", () => {
    const q = minimize(rosenbrock, [-1.2, 1]);
    const n = minimize(rosenbrock, [-1.2, 1], { method: "nelder-mead" });
    expect(q.path).toBe("bfgs");
    expect(n.path).toBe("nelder-mead");
    expect(q.converged && n.converged).toBe(true);
    expect(q.evaluations * 5).toBeLessThan(n.evaluations);
    expect(Math.abs(q.x[0]! - n.x[0]!)).toBeLessThan(1e-5);
    // Nelder–Mead is the same search as calling it directly.
    expect(n.x).toEqual(nelderMead(rosenbrock.value, [-1.2, 1]).x);
  });

  it("also runs Nelder–Mead from the start when BFGS does not converge, keeping the better", () => {
    const r = minimize(rosenbrock, [-1.2, 1], { bfgs: { maxIterations: 5 } });
    const n = nelderMead(rosenbrock.value, [-1.2, 1]);
    expect(r.path).toBe("bfgs+nelder-mead");
    expect(r.converged).toBe(true);
    expect(r.x).toEqual(n.x);
    expect(r.evaluations).toBeGreaterThan(n.evaluations);
  });

  it("does not trust a gradient test met on a plateau out of reach", () => {
    // f falls towards −1 as x → ∞ with no minimum; f' = −e^−x/(1+e^−x)² passes 1e-10 only near x = 23.
    const plateau: Objective = {
      value: ([x = 0]) => -1 / (1 + Math.exp(-x)),
      valueAndGradient: ([x = 0], g) => {
        const e = Math.exp(-x);
        g[0] = -e / (1 + e) ** 2;
        return -1 / (1 + e);
      },
    };
    const q = bfgs(plateau.valueAndGradient, [0]);
    expect(q.converged).toBe(true);
    expect(q.x[0]).toBeGreaterThan(15);
    const r = minimize(plateau, [0], { reach: 15 });
    expect(r.path).toBe("bfgs+nelder-mead");
    // Nelder–Mead walks further out here (its simplex test is met once f is flat to fTol) and wins.
    expect(r.fx).toBeLessThanOrEqual(q.fx);
    expect(r.x).toEqual(nelderMead(plateau.value, [0]).x);
    // Within reach the BFGS point stands.
    expect(minimize(plateau, [0], { reach: 30 }).path).toBe("bfgs");
  });
});

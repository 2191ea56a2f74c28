import { describe, expect, it } from "vitest";
import { gammaGammaObjective } from "../../src/model/gamma-gamma.ts";
import {
  type BgNbdParams,
  type GammaGammaParams,
  applyEvents,
  createMemberState,
  customerLifetimeValue,
  expectedAverageValue,
  expectedPurchases,
  fitGammaGamma,
  gammaGammaLogLikelihood,
  memberFeatures,
} from "../../src/model/index.ts";
import { cdnowPurchaseEvents, readCdnowSample } from "./cdnow.ts";
import { expectGradientMatches } from "./gradient-check.ts";
import { Sampler, sfc32 } from "./prng.ts";

const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.abs(want);

describe("Gamma-Gamma parameter recovery", () => {
  const truth: GammaGammaParams = { p: 6, q: 4, gamma: 1500 };
  const s = new Sampler(sfc32(7));
  const members: { x: number; monetary: number }[] = [];
  for (let i = 0; i < 10_000; i++) {
    const x = 1 + Math.floor(s.open() * 8);
    const nu = s.gamma(truth.q, truth.gamma);
    let sum = 0;
    for (let k = 0; k < x; k++) sum += s.gamma(truth.p, nu);
    members.push({ x, monetary: sum / x });
  }

  it("recovers simulated parameters", () => {
    const fit = fitGammaGamma(members);
    expect(fit.converged).toBe(true);
    expect(fit.members).toBe(10_000);
    // p and γ trade off against each other; their population mean spend pγ/(q−1) is sharp.
    expect(relErr(fit.params.p, truth.p)).toBeLessThan(0.15);
    expect(relErr(fit.params.q, truth.q)).toBeLessThan(0.1);
    expect(relErr(fit.params.gamma, truth.gamma)).toBeLessThan(0.15);
    const mean = (g: GammaGammaParams) => (g.p * g.gamma) / (g.q - 1);
    expect(relErr(mean(fit.params), mean(truth))).toBeLessThan(0.03);
    expect(fit.logLikelihood).toBeGreaterThanOrEqual(gammaGammaLogLikelihood(truth, members));
  });

  it("ignores members without repeat purchases or with zero spend", () => {
    const withNoise = [...members, { x: 0, monetary: 0 }, { x: 3, monetary: 0 }];
    expect(gammaGammaLogLikelihood(truth, withNoise)).toBe(gammaGammaLogLikelihood(truth, members));
  });
});

function cdnowSpend(): { x: number; monetary: number }[] {
  const asOf = Date.UTC(1997, 8, 30);
  const spend: { x: number; monetary: number }[] = [];
  for (const events of cdnowPurchaseEvents(readCdnowSample()).values()) {
    const f = memberFeatures(applyEvents(createMemberState(), events), asOf);
    // Published in dollars; the state keeps cents.
    if (f !== null) spend.push({ x: f.x, monetary: f.monetaryMinor / 100 });
  }
  return spend;
}

describe("Gamma-Gamma on CDNOW", () => {
  it("reproduces Fader & Hardie's estimates p = 6.25, q = 3.74, γ = 15.44 (946 repeat buyers)", () => {
    const spend = cdnowSpend();
    const fit = fitGammaGamma(spend);
    expect(fit.members).toBe(946);
    expect(relErr(fit.params.p, 6.25)).toBeLessThan(0.01);
    expect(relErr(fit.params.q, 3.74)).toBeLessThan(0.01);
    expect(relErr(fit.params.gamma, 15.44)).toBeLessThan(0.01);
  });
});

describe("Gamma-Gamma objective and its gradient", () => {
  const spend = cdnowSpend();
  const logOf = (g: GammaGammaParams): number[] => [g.p, g.q, g.gamma].map(Math.log);

  it("matches central differences at the optimum and far from it, with and without the penalty", () => {
    const points: GammaGammaParams[] = [
      { p: 6.25, q: 3.74, gamma: 15.44 },
      { p: 1, q: 1, gamma: 35 },
      { p: 74, q: 2.3, gamma: 0.66 },
      { p: 0.05, q: 50, gamma: 1e3 },
      { p: 300, q: 0.2, gamma: 0.01 },
    ];
    for (const penalizer of [0, 0.01]) {
      const objective = gammaGammaObjective(spend, penalizer);
      for (const g of points) expectGradientMatches(objective, logOf(g));
    }
  });

  it("gives the same value with or without the gradient", () => {
    const objective = gammaGammaObjective(spend, 0.01);
    const v = logOf({ p: 6.25, q: 3.74, gamma: 15.44 });
    expect(objective.valueAndGradient(v, [0, 0, 0])).toBe(objective.value(v));
  });
});

describe("fitGammaGamma: BFGS against Nelder–Mead", () => {
  const fromCdnow = cdnowSpend();
  const s = new Sampler(sfc32(11));
  const simulated: { x: number; monetary: number }[] = [];
  for (let i = 0; i < 3000; i++) {
    const x = 1 + Math.floor(s.open() * 12);
    const nu = s.gamma(4, 2500);
    let sum = 0;
    for (let k = 0; k < x; k++) sum += s.gamma(6, nu);
    // Whole minor units, as the service feeds it.
    simulated.push({ x, monetary: Math.round(sum) / x });
  }

  it("finds the Nelder–Mead optimum with a small fraction of the evaluations", () => {
    for (const spend of [fromCdnow, simulated]) {
      for (const penalizer of [0, 1e-4]) {
        const nm = fitGammaGamma(spend, { penalizer, method: "nelder-mead" });
        const fit = fitGammaGamma(spend, { penalizer });
        expect(fit.converged && nm.converged).toBe(true);
        for (const k of ["p", "q", "gamma"] as const) {
          expect(relErr(fit.params[k], nm.params[k])).toBeLessThan(1e-5);
        }
        if (penalizer === 0) {
          expect(fit.logLikelihood / fit.members).toBeGreaterThanOrEqual(
            nm.logLikelihood / nm.members - 1e-9,
          );
        }
        // The penalty on γ (money scale) makes the simulated problem stiff: ~65 evaluations there.
        expect(fit.evaluations * 5).toBeLessThan(nm.evaluations);
      }
    }
  });
});

describe("expected value and CLV", () => {
  const gg: GammaGammaParams = { p: 6.25, q: 3.74, gamma: 1544 };
  const bg: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

  it("shrinks the member's mean towards the population mean, less so with more purchases", () => {
    const population = (gg.p * gg.gamma) / (gg.q - 1);
    expect(expectedAverageValue(gg, 0, 0)).toBeCloseTo(population, 9);
    const m = 10_000;
    const e1 = expectedAverageValue(gg, 1, m);
    const e10 = expectedAverageValue(gg, 10, m);
    expect(e1).toBeGreaterThan(population);
    expect(e1).toBeLessThan(e10);
    expect(e10).toBeLessThan(m);
    expect(expectedAverageValue(gg, 1e6, m) / m).toBeCloseTo(1, 3);
    expect(() => expectedAverageValue({ ...gg, q: 0.9 }, 1, m)).toThrow(RangeError);
  });

  it("telescopes to value × E[Y(horizon)] without discounting, and discounts per period end", () => {
    const member = { x: 2, tx: 30.43, T: 38.86, monetary: 2500 };
    const month = 52 / 12;
    const value = expectedAverageValue(gg, member.x, member.monetary);
    const undiscounted = customerLifetimeValue(bg, gg, member, {
      periodLength: month,
      periods: 12,
      discountRate: 0,
    });
    expect(undiscounted).toBeCloseTo(value * expectedPurchases(bg, 12 * month, 2, 30.43, 38.86), 6);
    const one = customerLifetimeValue(bg, gg, member, {
      periodLength: month,
      periods: 1,
      discountRate: 0.01,
    });
    expect(one).toBeCloseTo((value * expectedPurchases(bg, month, 2, 30.43, 38.86)) / 1.01, 9);
    const discounted = customerLifetimeValue(bg, gg, member, {
      periodLength: month,
      periods: 12,
      discountRate: 0.01,
    });
    expect(discounted).toBeLessThan(undiscounted);
    expect(discounted).toBeGreaterThan(undiscounted / 1.01 ** 12);
    const lapsed = customerLifetimeValue(
      bg,
      gg,
      { ...member, tx: 5 },
      { periodLength: month, periods: 12, discountRate: 0.01 },
    );
    expect(lapsed).toBeLessThan(discounted);
  });
});

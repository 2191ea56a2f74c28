import { describe, expect, it } from "vitest";
import { bgNbdObjective } from "../../src/model/bgnbd.ts";
import {
  type BgNbdParams,
  bgNbdLogLikelihood,
  expectedPurchases,
  expectedPurchasesUnconditional,
  fitBgNbd,
  groupObservations,
  lgamma,
  memberFeatures,
  probabilityAlive,
} from "../../src/model/index.ts";
import { applyEvents, createMemberState } from "../../src/model/index.ts";
import { cdnowPurchaseEvents, readCdnowSample } from "./cdnow.ts";
import { expectGradientMatches } from "./gradient-check.ts";
import { Sampler, sfc32 } from "./prng.ts";

const PAPER: BgNbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

function cdnowCalibration() {
  const asOf = Date.UTC(1997, 8, 30);
  const out: { x: number; tx: number; T: number }[] = [];
  for (const events of cdnowPurchaseEvents(readCdnowSample()).values()) {
    const f = memberFeatures(applyEvents(createMemberState(), events), asOf);
    if (f !== null) out.push({ x: f.x, tx: f.tx, T: f.T });
  }
  return out;
}

/** The members acquired before `asOf`, with only their purchases before it. */
function cdnowEarly(asOf: number) {
  const out: { x: number; tx: number; T: number }[] = [];
  for (const events of cdnowPurchaseEvents(readCdnowSample()).values()) {
    const before = events.filter((e) => e.eventTime < asOf);
    const f = memberFeatures(applyEvents(createMemberState(), before), asOf);
    if (f !== null) out.push({ x: f.x, tx: f.tx, T: f.T });
  }
  return out;
}

const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.abs(want);

describe("BG/NBD on CDNOW (Fader, Hardie & Lee 2005)", () => {
  const members = cdnowCalibration();
  const fit = fitBgNbd(members);

  it("reproduces the published parameters within 1%", () => {
    expect(members).toHaveLength(2357);
    expect(fit.converged).toBe(true);
    expect(fit.members).toBe(2357);
    expect(fit.groups).toBeLessThan(members.length);
    expect(relErr(fit.params.r, PAPER.r)).toBeLessThan(0.01);
    expect(relErr(fit.params.alpha, PAPER.alpha)).toBeLessThan(0.01);
    expect(relErr(fit.params.a, PAPER.a)).toBeLessThan(0.01);
    expect(relErr(fit.params.b, PAPER.b)).toBeLessThan(0.01);
    // The paper reports LL = −9582.4 at its estimates.
    expect(fit.logLikelihood).toBeCloseTo(-9582.4, 0);
  });

  it("is a maximum: every parameter nudge lowers the likelihood", () => {
    const ll = bgNbdLogLikelihood(fit.params, members);
    expect(ll).toBeCloseTo(fit.logLikelihood, 6);
    for (const k of ["r", "alpha", "a", "b"] as const) {
      for (const f of [0.99, 1.01]) {
        expect(bgNbdLogLikelihood({ ...fit.params, [k]: fit.params[k] * f }, members)).toBeLessThan(ll);
      }
    }
  });

  it("gives the same likelihood grouped or ungrouped", () => {
    const grouped = groupObservations(members);
    const total = grouped.reduce((s, g) => s + g.weight, 0);
    expect(total).toBe(members.length);
    let oneByOne = 0;
    for (const m of members) oneByOne += bgNbdLogLikelihood(PAPER, [m]);
    expect(bgNbdLogLikelihood(PAPER, grouped)).toBeCloseTo(oneByOne, 6);
  });

  it("groups on identical (x, t_x, T), sums weights and sorts, whatever the input order", () => {
    const rows = [
      { x: 2, tx: 3.5, T: 10 },
      { x: 0, tx: 0, T: 10 },
      { x: 2, tx: 3.5, T: 10, weight: 2 },
      { x: 2, tx: 3.5, T: 12 },
      { x: 0, tx: 0, T: 10 },
      { x: 1, tx: 3.5, T: 10 },
    ];
    const want = [
      { x: 0, tx: 0, T: 10, weight: 2 },
      { x: 1, tx: 3.5, T: 10, weight: 1 },
      { x: 2, tx: 3.5, T: 10, weight: 3 },
      { x: 2, tx: 3.5, T: 12, weight: 1 },
    ];
    expect(groupObservations(rows)).toEqual(want);
    expect(groupObservations([...rows].reverse())).toEqual(want);
  });

  it("applies the L2 penalizer", () => {
    const penalized = fitBgNbd(members, { penalizer: 0.1 });
    const sq = (p: BgNbdParams) => p.r ** 2 + p.alpha ** 2 + p.a ** 2 + p.b ** 2;
    expect(sq(penalized.params)).toBeLessThan(sq(fit.params));
    expect(penalized.logLikelihood).toBeLessThan(fit.logLikelihood);
  });
});

describe("BG/NBD objective and its gradient", () => {
  const members = cdnowCalibration();
  const logOf = (p: BgNbdParams): number[] => [p.r, p.alpha, p.a, p.b].map(Math.log);

  it("matches central differences at the optimum and far from it, with and without the penalty", () => {
    const points: BgNbdParams[] = [
      PAPER,
      { r: 1, alpha: 1, a: 1, b: 1 },
      { r: 0.01, alpha: 100, a: 20, b: 0.05 },
      { r: 5, alpha: 0.1, a: 1e-4, b: 1e4 },
      { r: 0.3, alpha: 4, a: 3, b: 0.2 },
      { r: 40, alpha: 300, a: 0.02, b: 150 },
    ];
    for (const penalizer of [0, 0.1]) {
      const objective = bgNbdObjective(members, penalizer);
      for (const p of points) expectGradientMatches(objective, logOf(p));
    }
  });

  it("is the mean negative log-likelihood plus the penalty, the same value with or without the gradient", () => {
    const objective = bgNbdObjective(members, 0.1);
    const v = logOf(PAPER);
    const gradient = [0, 0, 0, 0];
    const penalty = 0.1 * (PAPER.r ** 2 + PAPER.alpha ** 2 + PAPER.a ** 2 + PAPER.b ** 2);
    expect(objective.valueAndGradient(v, gradient)).toBe(objective.value(v));
    expect(objective.value(v)).toBeCloseTo(
      -bgNbdLogLikelihood(PAPER, members) / members.length + penalty,
      12,
    );
  });

  it("stays accurate out along the degenerate directions (no large cancelling terms)", () => {
    const objective = bgNbdObjective(members);
    // Along a/b fixed (a → 0, b → ∞) and along r/α fixed (r, α → ∞) the likelihood barely moves; its
    // value must not jitter by more than rounding.
    const along = (p: BgNbdParams, ratioKeys: readonly [keyof BgNbdParams, keyof BgNbdParams]) => {
      const base = objective.value(logOf(p));
      for (let k = 1; k <= 20; k++) {
        const moved = { ...p, [ratioKeys[0]]: p[ratioKeys[0]] * (1 + k * 1e-9) };
        moved[ratioKeys[1]] = p[ratioKeys[1]] * (1 + k * 1e-9);
        expect(Math.abs(objective.value(logOf(moved)) - base)).toBeLessThan(1e-14 * base);
      }
    };
    along({ ...PAPER, a: 1e-6, b: 1e6 }, ["a", "b"]);
    along({ ...PAPER, r: 0.243e12, alpha: 4.414e12 }, ["r", "alpha"]);
  });
});

describe("fitBgNbd: BFGS against Nelder–Mead", () => {
  const members = cdnowCalibration();

  it("finds the Nelder–Mead optimum with a small fraction of the evaluations", () => {
    for (const penalizer of [0, 0.1]) {
      const nm = fitBgNbd(members, { penalizer, method: "nelder-mead" });
      const fit = fitBgNbd(members, { penalizer });
      expect(fit.converged && nm.converged).toBe(true);
      for (const k of ["r", "alpha", "a", "b"] as const) {
        expect(relErr(fit.params[k], nm.params[k])).toBeLessThan(1e-5);
      }
      if (penalizer === 0) {
        expect(fit.logLikelihood / fit.members).toBeGreaterThanOrEqual(nm.logLikelihood / nm.members - 1e-9);
      }
      expect(fit.evaluations * 10).toBeLessThan(nm.evaluations);
    }
  });

  it("ends deterministically on data with no interior optimum, at least as well as Nelder–Mead", () => {
    // Three and four weeks into CDNOW nobody has visibly dropped out: the likelihood rises towards
    // a/(a+b) → 0 without a maximum. BFGS either meets its gradient test on the ridge or stalls there
    // and Nelder–Mead settles it.
    for (const asOf of [Date.UTC(1997, 0, 22), Date.UTC(1997, 0, 29)]) {
      const early = cdnowEarly(asOf);
      const options = { optimizer: { maxIterations: 3000, maxRestarts: 3 } };
      const fit = fitBgNbd(early, options);
      expect(fitBgNbd(early, options)).toEqual(fit);
      const nm = fitBgNbd(early, { ...options, method: "nelder-mead" });
      expect(fit.logLikelihood / fit.members).toBeGreaterThanOrEqual(nm.logLikelihood / nm.members - 1e-9);
      expect(fit.params.a / (fit.params.a + fit.params.b)).toBeLessThan(1e-6);
      expect(Object.values(fit.params).every(Number.isFinite)).toBe(true);
      // The model stays usable for scoring.
      expect(Number.isFinite(expectedPurchases(fit.params, 4, 2, 1, 3))).toBe(true);
    }
  });
});

describe("fitBgNbd on data with buying and dropout the same for everyone", () => {
  it("is never worse than Nelder–Mead where BFGS drifts onto a plateau at infinity", () => {
    // No heterogeneity: the likelihood keeps rising as a, b → ∞ (one dropout probability), and from
    // the default start BFGS follows r, α → ∞, where f flattens out above the best value.
    const s = new Sampler(sfc32(5));
    const members: { x: number; tx: number; T: number }[] = [];
    for (let i = 0; i < 2000; i++) {
      const T = Math.floor(s.open() * 40 + 7) / 7;
      let t = 0;
      let x = 0;
      let tx = 0;
      for (;;) {
        t += s.exponential(1);
        if (t > T) break;
        x++;
        tx = t;
        if (s.open() < 0.3) break;
      }
      members.push({ x, tx: Math.min(T, Math.floor(tx * 7) / 7), T });
    }
    const fit = fitBgNbd(members);
    const nm = fitBgNbd(members, { method: "nelder-mead" });
    expect(fit.logLikelihood).toBeGreaterThanOrEqual(nm.logLikelihood);
    expect(fitBgNbd(members)).toEqual(fit);
  });
});

describe("BG/NBD individual predictions", () => {
  it("reproduces the paper's E[Y(39)] = 1.226 for customer 0001 (x=2, t_x=30.43, T=38.86)", () => {
    expect(expectedPurchases(PAPER, 39, 2, 30.43, 38.86)).toBeCloseTo(1.226, 3);
  });

  it("agrees with eq. 10 evaluated independently by quadrature of Euler's integral for 2F1", () => {
    const cases = [
      { t: 39, x: 2, tx: 30.43, T: 38.86 },
      { t: 10, x: 0, tx: 0, T: 20 },
      { t: 52, x: 7, tx: 35, T: 38 },
      { t: 520, x: 1, tx: 2, T: 30 },
    ];
    for (const c of cases) {
      const got = expectedPurchases(PAPER, c.t, c.x, c.tx, c.T);
      // Simpson loses accuracy at the weakly singular endpoint; 1e-6 relative is ample here.
      expect(got / eq10ByQuadrature(PAPER, c.t, c.x, c.tx, c.T)).toBeCloseTo(1, 6);
    }
  });

  it("P(alive) is 1 without repeat purchases and equals the alive share of the likelihood", () => {
    expect(probabilityAlive(PAPER, 0, 0, 38.86)).toBe(1);
    expect(probabilityAlive(PAPER, 0, 0, 1000)).toBe(1);
    for (const [x, tx, T] of [
      [2, 30.43, 38.86],
      [1, 1.71, 38.86],
      [12, 20, 39],
      [30, 38, 38.5],
    ] as const) {
      // Alive branch of the likelihood: B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x)).
      const { r, alpha, a, b } = PAPER;
      const aliveLog =
        lgamma(r + x) -
        lgamma(r) +
        r * Math.log(alpha) +
        lgamma(a + b) +
        lgamma(b + x) -
        lgamma(b) -
        lgamma(a + b + x) -
        (r + x) * Math.log(alpha + T);
      const share = Math.exp(aliveLog - bgNbdLogLikelihood(PAPER, [{ x, tx, T }]));
      expect(probabilityAlive(PAPER, x, tx, T)).toBeCloseTo(share, 12);
    }
  });

  it("P(alive) falls with time since the last purchase and rises with recency", () => {
    let previous = 1;
    for (let T = 31; T <= 200; T += 7) {
      const p = probabilityAlive(PAPER, 3, 30, T);
      expect(p).toBeLessThan(previous);
      previous = p;
    }
    expect(probabilityAlive(PAPER, 3, 35, 40)).toBeGreaterThan(probabilityAlive(PAPER, 3, 10, 40));
    // At t_x = T the member just bought: still alive unless the last purchase was the dropout.
    expect(probabilityAlive(PAPER, 3, 40, 40)).toBeCloseTo(1 / (1 + PAPER.a / (PAPER.b + 2)), 12);
  });

  it("expected purchases grow with the horizon, shrink for lapsed members, and are 0 at t = 0", () => {
    expect(expectedPurchases(PAPER, 0, 2, 30, 39)).toBe(0);
    let previous = 0;
    for (const t of [1, 4, 13, 26, 39, 52, 104, 260, 520]) {
      const e = expectedPurchases(PAPER, t, 2, 30.43, 38.86);
      expect(e).toBeGreaterThan(previous);
      previous = e;
    }
    expect(expectedPurchases(PAPER, 39, 5, 10, 39)).toBeLessThan(expectedPurchases(PAPER, 39, 5, 38, 39));
    // E[X(t)] of a new customer: the paper's eq. 9, equal to the conditional form at x = t_x = T = 0.
    const u = expectedPurchasesUnconditional(PAPER, 39);
    expect(u / eq10ByQuadrature(PAPER, 39, 0, 0, 0)).toBeCloseTo(1, 6);
  });

  it("handles a = 1 (the formula's removable singularity) continuously", () => {
    const p = { ...PAPER, a: 1 };
    const at1 = expectedPurchases(p, 39, 2, 30, 39);
    const near = expectedPurchases({ ...PAPER, a: 1.001 }, 39, 2, 30, 39);
    expect(Number.isFinite(at1)).toBe(true);
    expect(Math.abs(at1 - near)).toBeLessThan(1e-3);
  });
});

describe("BG/NBD parameter recovery from simulated members", () => {
  it("recovers the generating parameters", () => {
    const truth: BgNbdParams = { r: 0.5, alpha: 6, a: 0.7, b: 2.5 };
    const s = new Sampler(sfc32(20240611));
    const members: { x: number; tx: number; T: number }[] = [];
    for (let i = 0; i < 10_000; i++) {
      const T = 26 + Math.floor(s.open() * 27);
      const lambda = s.gamma(truth.r, truth.alpha);
      const p = s.beta(truth.a, truth.b);
      let t = 0;
      let x = 0;
      let tx = 0;
      // Dropout can only follow a repeat purchase, as in the model.
      for (;;) {
        t += s.exponential(lambda);
        if (t > T) break;
        x++;
        tx = t;
        if (s.open() < p) break;
      }
      members.push({ x, tx, T });
    }
    const fit = fitBgNbd(members);
    expect(fit.converged).toBe(true);
    // a and b are the weakly identified pair; tolerances reflect that at n = 10,000.
    expect(relErr(fit.params.r, truth.r)).toBeLessThan(0.08);
    expect(relErr(fit.params.alpha, truth.alpha)).toBeLessThan(0.08);
    expect(relErr(fit.params.a, truth.a)).toBeLessThan(0.2);
    expect(relErr(fit.params.b, truth.b)).toBeLessThan(0.25);
    // The fitted model beats the truth on its own sample (it is the maximum).
    expect(fit.logLikelihood).toBeGreaterThanOrEqual(bgNbdLogLikelihood(truth, members));
  });
});

/**
 * Eq. 10 with 2F1(r+x, b+x; a+b+x−1; z) from Euler's integral
 *   2F1(A, B; C; z) = Γ(C)/(Γ(B)Γ(C−B)) ∫₀¹ u^(B−1) (1−u)^(C−B−1) (1−zu)^(−A) du, B = r+x, A = b+x,
 * with u = s^(1/B) to remove the endpoint singularity, by composite Simpson. Shares no code with the
 * series implementation.
 */
function eq10ByQuadrature(p: BgNbdParams, t: number, x: number, tx: number, T: number): number {
  const { r, alpha, a, b } = p;
  const A = b + x;
  const B = r + x;
  const C = a + b + x - 1;
  const z = t / (alpha + T + t);
  const f = (s: number): number => {
    const u = s ** (1 / B);
    return ((1 - u) ** (C - B - 1) * (1 - z * u) ** -A) / B;
  };
  const n = 100_000;
  const h = 1 / n;
  let acc = f(0) + f(1);
  for (let i = 1; i < n; i++) acc += (i % 2 === 1 ? 4 : 2) * f(i * h);
  const integral = (acc * h) / 3;
  const hyp = Math.exp(lgamma(C) - lgamma(B) - lgamma(C - B)) * integral;
  const bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp;
  const pAlive = x === 0 ? 1 : 1 / (1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + tx)) ** (r + x));
  return ((a + b + x - 1) / (a - 1)) * bracket * pAlive;
}

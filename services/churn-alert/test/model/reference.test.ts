// Property tests against the 90-digit reference of decimal-reference.ts, on seeded random cases over
// the parameter ranges the fit reaches. Stated bounds (relative error of the double result):
//   hyp2f1 at the arguments eq. 10 uses (Euler and original form), 0 <= z < 0.95:  1e-13
//   hyp2f1 with parameters in (0, 10], c in (0, 20] and −0.9 < z < 0 (Pfaff's transformation): 2e-12
//   probabilityAlive:                                                                     1e-13
//   expectedPurchases, conditional and unconditional:                                    1e-13
// 1e-13 is about 500 ulps: a few hundred roundings in the sums, and far below the digits the old form
// of E[Y] lost at a degenerate fit (log10(b) of them, ~1e-10 at b = 1e6). For negative z with c < b
// the transformed series still alternates, and its condition number costs up to ~7e-13 on these
// cases (the plain series the old hyp2f1 summed there was off by up to 10% on the same cases).
import { describe, expect, it } from "vitest";
import { type BgNbdParams, expectedPurchases, hyp2f1, probabilityAlive } from "../../src/model/index.ts";
import { expectedPurchasesRef, hyp2f1Ref, probabilityAliveRef, relError } from "./decimal-reference.ts";
import { sfc32 } from "./prng.ts";

const BOUND = 1e-13;
const PFAFF_BOUND = 2e-12;
const PAPER: BgNbdParams = { r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258 };

class Draw {
  private readonly u: () => number;
  constructor(seed: number) {
    this.u = sfc32(seed);
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.u();
  }
  logUniform(lo: number, hi: number): number {
    return Math.exp(this.uniform(Math.log(lo), Math.log(hi)));
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.u() * (hi - lo + 1));
  }
}

interface Case {
  readonly p: BgNbdParams;
  readonly t: number;
  readonly x: number;
  readonly tx: number;
  readonly T: number;
}

/** A member and horizon; young members (the replay's first weeks) or any age. */
function member(d: Draw, p: BgNbdParams, young: boolean): Case {
  const T = young ? d.uniform(0, 4) : d.uniform(0, 78);
  const x = young ? d.int(0, 3) : d.int(0, 30);
  const tx = x === 0 ? 0 : d.uniform(0, T);
  const t = young ? d.uniform(4, 13) : d.uniform(0.5, 52);
  return { p, t, x, tx, T };
}

/** The fits of the first weeks of a CDNOW replay: nobody seen to drop out, a → 0, b → ∞. */
function degenerateCases(seed: number, n: number): Case[] {
  const d = new Draw(seed);
  return Array.from({ length: n }, () => {
    const p = {
      r: d.uniform(0.2, 0.5),
      alpha: d.uniform(4, 10),
      a: d.logUniform(1e-7, 1e-3),
      b: d.logUniform(1e3, 1e7),
    };
    return member(d, p, true);
  });
}

function paperCases(seed: number, n: number): Case[] {
  const d = new Draw(seed);
  return Array.from({ length: n }, () => member(d, PAPER, false));
}

/** Anywhere the optimiser may go: each parameter over several orders of magnitude. */
function broadCases(seed: number, n: number): Case[] {
  const d = new Draw(seed);
  return Array.from({ length: n }, () => {
    const p = {
      r: d.logUniform(0.02, 50),
      alpha: d.logUniform(0.5, 100),
      a: d.logUniform(1e-7, 20),
      b: d.logUniform(1e-2, 1e7),
    };
    return member(d, p, d.uniform(0, 1) < 0.5);
  });
}

const label = (c: Case) => JSON.stringify(c);

function checkExpectedPurchases(cases: readonly Case[]): number {
  let worst = 0;
  for (const c of cases) {
    const got = expectedPurchases(c.p, c.t, c.x, c.tx, c.T);
    const err = relError(got, expectedPurchasesRef(c.p, c.t, c.x, c.tx, c.T));
    expect(err, label(c)).toBeLessThan(BOUND);
    worst = Math.max(worst, err);
  }
  return worst;
}

describe("expectedPurchases against eq. 10 in 90 digits", () => {
  it("at the degenerate fits of a replay's first weeks (a 1e-7..1e-3, b 1e3..1e7)", () => {
    checkExpectedPurchases(degenerateCases(1, 150));
  });

  it("at the paper's fit, members of any age and frequency", () => {
    checkExpectedPurchases(paperCases(2, 150));
  });

  it("over the ranges the optimiser reaches", () => {
    checkExpectedPurchases(broadCases(3, 200));
  });

  it("unconditionally (x = t_x = T = 0) and at a = 1", () => {
    const d = new Draw(4);
    const cases: Case[] = [];
    for (let i = 0; i < 40; i++) {
      const p = {
        r: d.logUniform(0.05, 5),
        alpha: d.logUniform(1, 20),
        a: d.logUniform(1e-7, 5),
        b: d.logUniform(0.1, 1e7),
      };
      cases.push({ p, t: d.uniform(1, 52), x: 0, tx: 0, T: 0 });
    }
    checkExpectedPurchases(cases);
    // a = 1 is a removable singularity of eq. 10; compare with the reference on both sides of it.
    for (const c of paperCases(5, 10)) {
      const at1 = expectedPurchases({ ...c.p, a: 1 }, c.t, c.x, c.tx, c.T);
      const lo = expectedPurchasesRef({ ...c.p, a: 1 - 1e-12 }, c.t, c.x, c.tx, c.T);
      const hi = expectedPurchasesRef({ ...c.p, a: 1 + 1e-12 }, c.t, c.x, c.tx, c.T);
      expect(relError(at1, lo.plus(hi).div(2)), label(c)).toBeLessThan(BOUND);
    }
  });

  it("is sharp enough to tell the true value from the no-dropout limit at a degenerate fit", () => {
    // E[Y] → (r+x)·t/(α+T)·P(alive) as a → 0, b → ∞; at a = 1e-4, b = 1e4 the two differ by about
    // 1e-4 relative, at b = 1e7 by far less than the old form's error (~1e-9) but more than BOUND.
    const p = { r: 0.3, alpha: 6, a: 1e-4, b: 1e7 };
    const want = expectedPurchasesRef(p, 13, 1, 1, 3);
    const limit = (((p.r + 1) * 13) / (p.alpha + 3)) * probabilityAlive(p, 1, 1, 3);
    expect(relError(limit, want)).toBeGreaterThan(100 * BOUND);
    expect(relError(expectedPurchases(p, 13, 1, 1, 3), want)).toBeLessThan(BOUND);
  });
});

describe("probabilityAlive against its closed form in 90 digits", () => {
  it("over degenerate, paper and broad cases", () => {
    for (const c of [...degenerateCases(6, 100), ...paperCases(7, 100), ...broadCases(8, 200)]) {
      const got = probabilityAlive(c.p, c.x, c.tx, c.T);
      expect(relError(got, probabilityAliveRef(c.p, c.x, c.tx, c.T)), label(c)).toBeLessThan(BOUND);
    }
  });
});

describe("hyp2f1 against its power series in 90 digits", () => {
  it("at eq. 10's arguments, Euler's and the original form", () => {
    for (const c of [...degenerateCases(9, 60), ...paperCases(10, 40), ...broadCases(11, 60)]) {
      const { r, alpha, a, b } = c.p;
      const z = c.t / (alpha + c.T + c.t);
      if (z >= 0.95) continue;
      const g = a + b + c.x - 1;
      const euler = hyp2f1(a + b - 1 - r, a - 1, g, z);
      expect(relError(euler, hyp2f1Ref(a + b - 1 - r, a - 1, g, z)), label(c)).toBeLessThan(BOUND);
      if (r + c.x < 40) {
        const original = hyp2f1(r + c.x, b + c.x, g, z);
        expect(relError(original, hyp2f1Ref(r + c.x, b + c.x, g, z)), label(c)).toBeLessThan(BOUND);
      }
    }
  });

  it("with positive parameters and negative z (Pfaff), against the series at z/(z−1)", () => {
    const d = new Draw(12);
    for (let i = 0; i < 100; i++) {
      const [a, b, c] = [d.uniform(0.05, 10), d.uniform(0.05, 10), d.uniform(0.05, 20)];
      const z = d.uniform(-0.9, 0);
      expect(
        relError(hyp2f1(a, b, c, z), hyp2f1Ref(a, b, c, z)),
        JSON.stringify({ a, b, c, z }),
      ).toBeLessThan(PFAFF_BOUND);
    }
  });
});

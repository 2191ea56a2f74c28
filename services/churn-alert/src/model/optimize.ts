// Derivative-free minimisation. The model likelihoods are smooth but badly scaled (a and b of
// BG/NBD are weakly identified), so we use Nelder–Mead with the dimension-adaptive coefficients of
// Gao & Han (2012) and restart from the best vertex until a restart no longer improves: a single
// Nelder–Mead run can stall on a collapsed simplex.

export interface NelderMeadOptions {
  /** Iteration cap per run. */
  readonly maxIterations?: number;
  /** Stop a run when the spread of f over the simplex is below this (absolute). */
  readonly fTol?: number;
  /** …and the simplex extent in every coordinate is below this. */
  readonly xTol?: number;
  /** Edge length of the initial simplex (per coordinate or one for all). */
  readonly initialStep?: number | readonly number[];
  /** Maximum number of restarts after the first run. */
  readonly maxRestarts?: number;
}

export interface NelderMeadResult {
  readonly x: number[];
  readonly fx: number;
  /** Iterations over all runs. */
  readonly iterations: number;
  readonly evaluations: number;
  readonly restarts: number;
  /** Last run met the tolerances and the last restart did not improve f by more than fTol. */
  readonly converged: boolean;
}

interface RunResult {
  x: number[];
  fx: number;
  iterations: number;
  converged: boolean;
}

export function nelderMead(
  f: (x: readonly number[]) => number,
  x0: readonly number[],
  options: NelderMeadOptions = {},
): NelderMeadResult {
  const n = x0.length;
  if (n === 0) throw new RangeError("nelderMead: empty starting point");
  const maxIterations = options.maxIterations ?? 2000 * n;
  const fTol = options.fTol ?? 1e-12;
  const xTol = options.xTol ?? 1e-9;
  const maxRestarts = options.maxRestarts ?? 10;
  const stepOpt = options.initialStep ?? 0.5;
  const steps = Array.from({ length: n }, (_, i) =>
    typeof stepOpt === "number" ? stepOpt : (stepOpt[i] ?? 0.5),
  );

  let evaluations = 0;
  // Non-finite values are treated as +∞ so the simplex moves away from invalid regions.
  const fx = (x: readonly number[]): number => {
    evaluations++;
    const v = f(x);
    return Number.isFinite(v) ? v : Number.POSITIVE_INFINITY;
  };

  let best = runOnce(fx, x0, steps, maxIterations, fTol, xTol);
  let iterations = best.iterations;
  let restarts = 0;
  let converged = best.converged;
  while (restarts < maxRestarts) {
    restarts++;
    // Smaller simplex around the incumbent: a fresh, non-degenerate set of search directions.
    const restartSteps = steps.map((s) => s * 0.1);
    const next = runOnce(fx, best.x, restartSteps, maxIterations, fTol, xTol);
    iterations += next.iterations;
    const improved = best.fx - next.fx;
    if (next.fx < best.fx) best = next;
    converged = next.converged;
    if (improved <= fTol && next.converged) break;
  }
  return { x: best.x, fx: best.fx, iterations, evaluations, restarts, converged };
}

function runOnce(
  f: (x: readonly number[]) => number,
  start: readonly number[],
  steps: readonly number[],
  maxIterations: number,
  fTol: number,
  xTol: number,
): RunResult {
  const n = start.length;
  const alpha = 1;
  const gamma = 1 + 2 / n;
  const rho = 0.75 - 1 / (2 * n);
  const sigma = 1 - 1 / n;

  const simplex: number[][] = [start.slice()];
  for (let i = 0; i < n; i++) {
    const v = start.slice();
    v[i] = (v[i] ?? 0) + (steps[i] ?? 0);
    simplex.push(v);
  }
  const values = simplex.map((v) => f(v));
  const order = Array.from({ length: n + 1 }, (_, i) => i);

  const combine = (centroid: readonly number[], worst: readonly number[], t: number): number[] =>
    centroid.map((c, j) => c + t * (c - (worst[j] ?? 0)));

  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    order.sort((i, j) => values[i]! - values[j]!);
    const iBest = order[0]!;
    const iWorst = order[n]!;
    const iSecond = order[n - 1]!;
    const fBest = values[iBest]!;
    const fWorst = values[iWorst]!;

    if (Math.abs(fWorst - fBest) <= fTol && simplexExtent(simplex) <= xTol) {
      converged = true;
      break;
    }
    iterations++;

    const centroid = new Array<number>(n).fill(0);
    for (let k = 0; k < n; k++) {
      const v = simplex[order[k]!]!;
      for (let j = 0; j < n; j++) centroid[j]! += v[j]! / n;
    }
    const worst = simplex[iWorst]!;

    const xr = combine(centroid, worst, alpha);
    const fr = f(xr);
    if (fr < fBest) {
      const xe = combine(centroid, worst, alpha * gamma);
      const fe = f(xe);
      if (fe < fr) replace(iWorst, xe, fe);
      else replace(iWorst, xr, fr);
      continue;
    }
    if (fr < values[iSecond]!) {
      replace(iWorst, xr, fr);
      continue;
    }
    // Contraction: outside if the reflection helped over the worst point, inside otherwise.
    const outside = fr < fWorst;
    const xc = combine(centroid, worst, outside ? alpha * rho : -rho);
    const fc = f(xc);
    if (fc < (outside ? fr : fWorst)) {
      replace(iWorst, xc, fc);
      continue;
    }
    const xb = simplex[iBest]!;
    for (let k = 1; k <= n; k++) {
      const idx = order[k]!;
      const v = simplex[idx]!.map((vj, j) => xb[j]! + sigma * (vj - xb[j]!));
      replace(idx, v, f(v));
    }
  }
  let bestIdx = 0;
  for (let i = 1; i <= n; i++) if (values[i]! < values[bestIdx]!) bestIdx = i;
  return { x: simplex[bestIdx]!.slice(), fx: values[bestIdx]!, iterations, converged };

  function replace(i: number, x: number[], v: number): void {
    simplex[i] = x;
    values[i] = v;
  }
}

function simplexExtent(simplex: readonly (readonly number[])[]): number {
  const first = simplex[0]!;
  let extent = 0;
  for (let j = 0; j < first.length; j++) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of simplex) {
      const c = v[j]!;
      if (c < lo) lo = c;
      if (c > hi) hi = c;
    }
    extent = Math.max(extent, hi - lo);
  }
  return extent;
}

// Gradient-based minimisation: BFGS on the inverse Hessian (Nocedal & Wright, Numerical Optimization,
// 2nd ed., ch. 6) with a line search for the strong Wolfe conditions (their algorithms 3.5 and 3.6).
// The curvature condition keeps yᵀs > 0, so the update stays positive definite. A trial point where f
// or its gradient is not finite counts as overshooting and the step is cut back (to a tenth towards the
// last good point). Deterministic: the same inputs give the same sequence of evaluations.

/** Returns f(x) and writes ∇f(x) into `gradient` (length n). */
export type ValueAndGradient = (x: readonly number[], gradient: number[]) => number;

export interface BfgsOptions {
  /** Iteration (accepted step) cap. */
  readonly maxIterations?: number;
  /** Converged when every |∂f/∂x_i| is at most this. */
  readonly gradTol?: number;
  /** Largest change of any coordinate in one step. */
  readonly maxStep?: number;
  /** Sufficient decrease (Armijo) constant. */
  readonly c1?: number;
  /** Curvature constant: |φ'(α)| <= c2 |φ'(0)|. */
  readonly c2?: number;
  /** Evaluations allowed per line search. */
  readonly maxLineSearch?: number;
  /**
   * Stop, not converged, once `stallIterations` successive steps each moved some coordinate by at least
   * `stallStep` yet lowered f by at most fTol · max(1, |f|): f is flat along the path, as on a ridge out
   * to infinity (a problem without an interior minimum), where the gradient test may only be met far
   * out. Near an interior minimum steps shrink with the decrease, so this does not fire there.
   */
  readonly fTol?: number;
  readonly stallStep?: number;
  readonly stallIterations?: number;
  /**
   * Relative rounding level of f. Near the optimum the decrease a step can make falls below the rounding
   * error of f and the Armijo test becomes a coin toss; there a step is also accepted when f has not
   * risen by more than this (relative) and the slope shows the minimum along the line was not overshot
   * (Hager & Zhang's approximate Wolfe conditions), so the gradient test can still be reached.
   */
  readonly fNoise?: number;
}

export type BfgsStop = "gradient" | "stalled" | "max-iterations" | "line-search" | "non-finite";

export interface BfgsResult {
  readonly x: number[];
  readonly fx: number;
  readonly gradient: number[];
  readonly iterations: number;
  readonly evaluations: number;
  /** The gradient test was met. */
  readonly converged: boolean;
  readonly stop: BfgsStop;
}

const maxAbs = (v: readonly number[]): number => v.reduce((m, e) => Math.max(m, Math.abs(e)), 0);
const dot = (u: readonly number[], v: readonly number[]): number => u.reduce((s, e, i) => s + e * v[i]!, 0);

export function bfgs(fg: ValueAndGradient, x0: readonly number[], options: BfgsOptions = {}): BfgsResult {
  const n = x0.length;
  if (n === 0) throw new RangeError("bfgs: empty starting point");
  const maxIterations = options.maxIterations ?? 200 * n;
  const gradTol = options.gradTol ?? 1e-10;
  const maxStep = options.maxStep ?? 10;
  const c1 = options.c1 ?? 1e-4;
  const c2 = options.c2 ?? 0.9;
  const maxLineSearch = options.maxLineSearch ?? 40;
  const fNoise = options.fNoise ?? 1e-12;
  const fTol = options.fTol ?? 1e-12;
  const stallStep = options.stallStep ?? 0.01;
  const stallIterations = options.stallIterations ?? 3;

  let evaluations = 0;
  const evaluate = (x: readonly number[]): { f: number; g: number[]; ok: boolean } => {
    evaluations++;
    const g = new Array<number>(n).fill(0);
    const f = fg(x, g);
    return { f, g, ok: Number.isFinite(f) && g.every(Number.isFinite) };
  };

  let x = x0.slice();
  let cur = evaluate(x);
  if (!cur.ok) {
    return {
      x,
      fx: cur.f,
      gradient: cur.g,
      iterations: 0,
      evaluations,
      converged: false,
      stop: "non-finite",
    };
  }
  // Inverse Hessian approximation, row-major; identity until the first step gives a curvature scale.
  let h = identity(n, 1);
  let fresh = true;
  let iterations = 0;
  let flatSteps = 0;
  let stop: BfgsStop = "max-iterations";
  while (true) {
    if (maxAbs(cur.g) <= gradTol) {
      stop = "gradient";
      break;
    }
    if (iterations >= maxIterations) break;
    let p = matVec(h, cur.g).map((v) => -v);
    let slope = dot(cur.g, p);
    if (!(slope < 0)) {
      // Rounding has made H indefinite along g: restart from steepest descent.
      h = identity(n, 1);
      fresh = true;
      p = cur.g.map((v) => -v);
      slope = dot(cur.g, p);
    }
    // Unscaled steepest descent has no natural length: the first trial moves at most one unit.
    const pMax = maxAbs(p);
    const alphaMax = maxStep / pMax;
    const alpha1 = Math.min(1, alphaMax, fresh ? 1 / pMax : Number.POSITIVE_INFINITY);
    const step = lineSearch(x, cur, p, slope, alpha1, alphaMax);
    if (step === null) {
      if (fresh) {
        stop = "line-search";
        break;
      }
      // Retry once along steepest descent before giving up.
      h = identity(n, 1);
      fresh = true;
      continue;
    }
    const s = step.x.map((v, i) => v - x[i]!);
    const y = step.g.map((v, i) => v - cur.g[i]!);
    const sy = dot(s, y);
    const decrease = cur.f - step.f;
    x = step.x;
    cur = step;
    iterations++;
    const flat = decrease <= fTol * Math.max(1, Math.abs(cur.f)) && maxAbs(s) >= stallStep;
    flatSteps = flat ? flatSteps + 1 : 0;
    if (flatSteps >= stallIterations && maxAbs(cur.g) > gradTol) {
      stop = "stalled";
      break;
    }
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      // Nocedal & Wright eq. 6.20: scale the first H to the curvature just seen.
      if (fresh) h = identity(n, sy / dot(y, y));
      fresh = false;
      bfgsUpdate(h, s, y, sy);
    }
  }
  return {
    x,
    fx: cur.f,
    gradient: cur.g,
    iterations,
    evaluations,
    converged: stop === "gradient",
    stop,
  };

  /** Strong Wolfe line search along p from `from` (slope φ'(0) < 0); null when no acceptable step was found. */
  function lineSearch(
    from: readonly number[],
    at0: { f: number; g: number[] },
    p: readonly number[],
    slope0: number,
    alpha1: number,
    alphaMax: number,
  ): { x: number[]; f: number; g: number[]; ok: boolean } | null {
    const f0 = at0.f;
    const tolerance = fNoise * Math.abs(f0);
    let budget = maxLineSearch;
    const trial = (alpha: number) => {
      budget--;
      const xa = from.map((v, i) => v + alpha * p[i]!);
      const e = evaluate(xa);
      return { alpha, x: xa, f: e.f, g: e.g, ok: e.ok, slope: e.ok ? dot(e.g, p) : Number.NaN };
    };
    type Trial = ReturnType<typeof trial>;
    const decreases = (t: Trial): boolean =>
      t.ok &&
      (t.f <= f0 + c1 * t.alpha * slope0 || (t.f <= f0 + tolerance && t.slope <= (1 - 2 * c1) * -slope0));
    const flat = (t: Trial): boolean => Math.abs(t.slope) <= -c2 * slope0;

    let lo: Trial = { alpha: 0, x: from.slice(), f: f0, g: at0.g, ok: true, slope: slope0 };
    let alpha = alpha1;
    let prev = lo;
    // Bracketing phase: grow the step until it overshoots, rises, or meets both conditions.
    let hi: Trial | null = null;
    while (budget > 0) {
      const t = trial(alpha);
      if (!decreases(t) || (prev.alpha > 0 && t.f >= prev.f)) {
        lo = prev;
        hi = t;
        break;
      }
      if (flat(t)) return t;
      if (t.slope >= 0) {
        lo = t;
        hi = prev;
        break;
      }
      if (alpha >= alphaMax) return t;
      // Still descending: extrapolate to where the secant of φ' vanishes, growing 2 to 10 times.
      const secant = t.alpha - (t.slope * (t.alpha - prev.alpha)) / (t.slope - prev.slope);
      const grown = t.slope > prev.slope ? Math.min(Math.max(secant, 2 * alpha), 10 * alpha) : 10 * alpha;
      prev = t;
      alpha = Math.min(grown, alphaMax);
    }
    if (hi === null) return prev.alpha > 0 ? prev : null;
    // Zoom phase: lo satisfies sufficient decrease and has the lowest f so far; the minimiser along the
    // line lies between lo and hi.
    while (budget > 0) {
      const width = hi.alpha - lo.alpha;
      if (Math.abs(width) <= 1e-12 * Math.max(Math.abs(lo.alpha), Math.abs(hi.alpha))) break;
      const a = interpolate(lo, hi);
      const t = trial(a);
      if (!decreases(t) || t.f >= lo.f) {
        hi = t;
        continue;
      }
      if (flat(t)) return t;
      if (t.slope * (hi.alpha - lo.alpha) >= 0) hi = lo;
      lo = t;
    }
    // Out of budget: a step with sufficient decrease still helps, even without the curvature condition.
    return lo.alpha > 0 ? lo : null;
  }
}

/**
 * Minimiser of the cubic through (α, φ, φ') at both ends, kept inside the middle 80 % of the interval;
 * bisection when the far end is not finite or the cubic has no minimiser there.
 */
function interpolate(
  lo: { alpha: number; f: number; slope: number; ok: boolean },
  hi: { alpha: number; f: number; slope: number; ok: boolean },
): number {
  const mid = 0.5 * (lo.alpha + hi.alpha);
  if (!hi.ok) return lo.alpha + 0.1 * (hi.alpha - lo.alpha);
  const d1 = lo.slope + hi.slope - (3 * (lo.f - hi.f)) / (lo.alpha - hi.alpha);
  const disc = d1 * d1 - lo.slope * hi.slope;
  if (!(disc >= 0)) return mid;
  const d2 = Math.sign(hi.alpha - lo.alpha) * Math.sqrt(disc);
  const a = hi.alpha - (hi.alpha - lo.alpha) * ((hi.slope + d2 - d1) / (hi.slope - lo.slope + 2 * d2));
  const left = Math.min(lo.alpha, hi.alpha);
  const right = Math.max(lo.alpha, hi.alpha);
  const margin = 0.1 * (right - left);
  if (!(a >= left + margin && a <= right - margin)) return mid;
  return a;
}

function identity(n: number, scale: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? scale : 0)));
}

function matVec(m: readonly (readonly number[])[], v: readonly number[]): number[] {
  return m.map((row) => dot(row, v));
}

/** H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1/(yᵀs) (Nocedal & Wright eq. 6.17), in place. */
function bfgsUpdate(h: number[][], s: readonly number[], y: readonly number[], sy: number): void {
  const n = s.length;
  const rho = 1 / sy;
  const hy = matVec(h, y);
  const yhy = dot(y, hy);
  for (let i = 0; i < n; i++) {
    const row = h[i]!;
    for (let j = 0; j < n; j++) {
      row[j] = row[j]! - rho * (hy[i]! * s[j]! + s[i]! * hy[j]!) + (rho * rho * yhy + rho) * s[i]! * s[j]!;
    }
  }
}

/** An objective for `minimize`: f alone (all Nelder–Mead needs) and f with its gradient. */
export interface Objective {
  readonly value: (x: readonly number[]) => number;
  readonly valueAndGradient: ValueAndGradient;
}

export type MinimizeMethod = "bfgs" | "nelder-mead";

/**
 * `reach` for the model fits, which work in log-parameters from a start of the right scale: a factor
 * e^15 ≈ 3e6 either way, far beyond any interior optimum with time in days or weeks and money in minor
 * units around the mean spend.
 */
export const LOG_PARAMETER_REACH = 15;

export interface MinimizeOptions {
  /** "bfgs" (default): BFGS, settled by Nelder–Mead where it does not converge to an interior point. */
  readonly method?: MinimizeMethod;
  readonly bfgs?: BfgsOptions;
  /** Nelder–Mead, as the method or as the fallback. */
  readonly nelderMead?: NelderMeadOptions;
  /**
   * A BFGS result farther than this from x0 in some coordinate is not trusted as a minimum: where f has
   * no interior minimum it flattens out towards infinity, and the gradient test can be met on such a
   * plateau far from the best region. Unlimited by default.
   */
  readonly reach?: number;
}

export interface MinimizeResult {
  readonly x: number[];
  readonly fx: number;
  /** Iterations and evaluations of every method that ran (a BFGS evaluation includes the gradient). */
  readonly iterations: number;
  readonly evaluations: number;
  /** The returned point met its method's tests; false for a BFGS point kept from a stall or out of reach. */
  readonly converged: boolean;
  readonly path: "bfgs" | "nelder-mead" | "bfgs+nelder-mead";
}

/**
 * BFGS, and where it does not converge within `reach` of x0 (no interior minimum, a stall on a ridge,
 * or a failure) also Nelder–Mead from x0 alone, keeping the lower f: never worse than the
 * derivative-free search by itself, and as cheap as BFGS where the minimum is interior.
 */
export function minimize(
  objective: Objective,
  x0: readonly number[],
  options: MinimizeOptions = {},
): MinimizeResult {
  if (options.method === "nelder-mead") {
    const r = nelderMead(objective.value, x0, options.nelderMead);
    return { ...pick(r), path: "nelder-mead" };
  }
  const reach = options.reach ?? Number.POSITIVE_INFINITY;
  const q = bfgs(objective.valueAndGradient, x0, options.bfgs);
  const inReach = q.x.every((v, i) => Math.abs(v - x0[i]!) <= reach);
  if (q.converged && inReach) return { ...pick(q), path: "bfgs" };
  const r = nelderMead(objective.value, x0, options.nelderMead);
  const keepBfgs = q.fx < r.fx;
  return {
    x: keepBfgs ? q.x : r.x,
    fx: keepBfgs ? q.fx : r.fx,
    iterations: q.iterations + r.iterations,
    evaluations: q.evaluations + r.evaluations,
    converged: keepBfgs ? q.converged && inReach : r.converged,
    path: "bfgs+nelder-mead",
  };
}

function pick(r: { x: number[]; fx: number; iterations: number; evaluations: number; converged: boolean }) {
  return { x: r.x, fx: r.fx, iterations: r.iterations, evaluations: r.evaluations, converged: r.converged };
}

/** How a model fit searches: shared by the BG/NBD and Gamma-Gamma fits. */
export interface LogParameterFitOptions {
  /** L2 penalty on the parameters added to the mean negative log-likelihood (as in `lifetimes`). */
  readonly penalizer?: number;
  /** "bfgs" (default) uses the analytic gradient; "nelder-mead" is the derivative-free search alone. */
  readonly method?: MinimizeMethod;
  readonly bfgs?: BfgsOptions;
  /** Nelder–Mead: the method, or the fallback when BFGS does not converge. */
  readonly optimizer?: NelderMeadOptions;
}

/**
 * What a model fit minimises over v = ln θ (so every parameter stays positive): the mean negative
 * log-likelihood plus `penalizer` · Σ θ², with its gradient. `logLikelihood` writes ∂ln L/∂ln θ into
 * `gradient` when given one. Mean rather than total so tolerances and the penalty do not depend on
 * population size.
 */
export function logParameterObjective(
  logLikelihood: (theta: readonly number[], gradient?: number[]) => number,
  totalWeight: number,
  penalizer: number,
): Objective {
  const penalty = (theta: readonly number[]) => penalizer * theta.reduce((s, t) => s + t ** 2, 0);
  return {
    value: (v) => {
      const theta = v.map(Math.exp);
      return -logLikelihood(theta) / totalWeight + penalty(theta);
    },
    valueAndGradient: (v, gradient) => {
      const theta = v.map(Math.exp);
      const value = -logLikelihood(theta, gradient) / totalWeight + penalty(theta);
      for (let i = 0; i < theta.length; i++)
        gradient[i] = -gradient[i]! / totalWeight + 2 * penalizer * theta[i]! ** 2;
      return value;
    },
  };
}

/** The fits' search: BFGS, settled against bounded Nelder–Mead where it stalls or runs out of reach. */
export function fitLogParameters(
  objective: Objective,
  start: readonly number[],
  options: LogParameterFitOptions,
): MinimizeResult {
  return minimize(objective, start, {
    method: options.method ?? "bfgs",
    bfgs: options.bfgs,
    nelderMead: { fTol: 1e-12, xTol: 1e-8, ...options.optimizer },
    reach: LOG_PARAMETER_REACH,
  });
}

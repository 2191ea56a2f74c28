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

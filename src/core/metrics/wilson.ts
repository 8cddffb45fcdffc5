/**
 * Confidence intervals for rates ("k of n generations copy"): Wilson's score interval.
 *
 * The plain p +- z sqrt(p(1-p)/n) interval collapses to a point at 0% and 100% (the rates this lab
 * reports most) and leaves [0, 1] near them; Wilson's stays inside [0, 1], is never empty at the
 * extremes (0 of 40 still allows up to 8.8%), and keeps close to its nominal 95% coverage at the
 * sample sizes used here (Brown, Cai & DasGupta 2001). The formula is three lines, so it is written
 * here rather than taken from a statistics package.
 */

/** Two-sided 95% normal quantile. */
export const Z95 = 1.959963984540054;

export interface Interval {
  lo: number;
  hi: number;
}

/** Wilson score interval for `successes` of `trials` (the whole [0, 1] for no trials). */
export function wilsonInterval(successes: number, trials: number, z = Z95): Interval {
  if (!Number.isInteger(successes) || !Number.isInteger(trials) || successes < 0 || successes > trials)
    throw new RangeError(`a rate needs whole counts with 0 <= successes <= trials, got ${successes} of ${trials}`);
  if (trials === 0) return { lo: 0, hi: 1 };
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials));
  // exact at the ends (rounding can leave 1e-17 outside)
  return {
    lo: successes === 0 ? 0 : Math.max(0, centre - half),
    hi: successes === trials ? 1 : Math.min(1, centre + half),
  };
}

/** A measured rate with its counts and 95% Wilson interval. */
export interface RateEstimate extends Interval {
  rate: number;
  count: number;
  total: number;
}

export function rateEstimate(count: number, total: number): RateEstimate {
  return { rate: total ? count / total : 0, count, total, ...wilsonInterval(count, total) };
}

/** The interval's width in rate units (0.15 = 15 points). */
export function intervalWidth(i: Interval): number {
  return i.hi - i.lo;
}

/**
 * The smallest number of trials whose 95% Wilson interval is at most `width` wide whatever the
 * rate turns out to be: how many generations a figure needs before anyone runs it. The widest
 * case is a rate of one half, where the width is z / sqrt(n + z^2). 0.15 -> 167.
 */
export function trialsForWidth(width: number, z = Z95): number {
  if (!(width > 0 && width < 1)) throw new RangeError('width must be in (0, 1)');
  return Math.max(1, Math.ceil(z * z * (1 / (width * width) - 1)));
}

/** "62.5% [51.6, 72.3]": a rate and its interval in percent. */
export function formatRate(r: RateEstimate, digits = 1): string {
  const p = (x: number) => (x * 100).toFixed(digits);
  return `${p(r.rate)}% [${p(r.lo)}, ${p(r.hi)}]`;
}

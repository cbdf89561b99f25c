/** Summaries of repeated measurements for the benchmark tables. */

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The q-quantile (0.5, 0.99) by nearest rank; NaN for no samples. */
export const percentile = (xs: number[], q: number) =>
  xs.length
    ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]
    : NaN;

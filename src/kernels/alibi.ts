// ALiBi slopes (Press et al. 2022, "Train short, test long"), for any head count, as transformers'
// build_alibi_tensor (BLOOM): with cp = 2^floor(log2 n), slopes (2^(−8/cp))^k for k = 1..cp, then,
// when n > cp, (2^(−4/cp))^k for k = 1, 3, 5, … until n slopes. The bias added to the score of
// key position j is slope_h · j. Values are rounded to float32 as the reference computes them.

/** Fills slopes[nHeads]. */
export function alibiSlopes(slopes: Float32Array, nHeads: number): void {
  const cp = 2 ** Math.floor(Math.log2(nHeads));
  const base = Math.fround(2 ** (-8 / cp));
  for (let k = 1; k <= cp; k++) slopes[k - 1] = Math.pow(base, k);
  if (cp < nHeads) {
    const extra = Math.fround(2 ** (-4 / cp));
    for (let i = 0; i < nHeads - cp; i++) slopes[cp + i] = Math.pow(extra, 2 * i + 1);
  }
}

/**
 * Reference: the geometric sequence of the paper, start = ratio = 2^(−8/n) for a power of two n;
 * otherwise the slopes of the closest smaller power of two followed by every other slope of twice it.
 */
export function alibiSlopesNaive(slopes: Float32Array, nHeads: number): void {
  const pow2 = (n: number): number[] => {
    const start = 2 ** -(2 ** -(Math.log2(n) - 3));
    return Array.from({ length: n }, (_, i) => start * start ** i);
  };
  let cp = 1;
  while (cp * 2 <= nHeads) cp *= 2;
  const all = pow2(cp).concat(
    pow2(2 * cp)
      .filter((_, i) => i % 2 === 0)
      .slice(0, nHeads - cp),
  );
  for (let h = 0; h < nHeads; h++) slopes[h] = all[h];
}

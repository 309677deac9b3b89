// Seeded random inputs for the kernel tests.
import { Rng } from '../../src/util/rng.ts';

export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Values spread over [−300, 300], with the extremes themselves included. */
export function extremes(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() * 2 - 1) * 300;
  a[0] = 300;
  if (n > 1) a[1] = -300;
  return a;
}

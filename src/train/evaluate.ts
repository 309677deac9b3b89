// Held-out scoring of a trainer network: bits per byte of a text, with the windows convention of
// src/eval/windows.ts (DESIGN.md §4): windows of `context` ids advancing by `stride` (default half
// the context); each id is scored once, by the first window in which it is not part of the overlap;
// the first id is never scored. BPB = Σ NLL / (UTF-8 bytes · ln 2), NLL summed in float64.

import type { TrainNet } from './net.ts';

export interface TextScore {
  readonly tokens: number;
  readonly scored: number;
  readonly bytes: number;
  readonly nllNats: number;
  readonly bitsPerByte: number;
}

export function scoreIds(
  net: TrainNet,
  ids: Int32Array,
  bytes: number,
  context: number,
  stride = Math.max(1, Math.floor(context / 2)),
): TextScore {
  const n = ids.length;
  let nll = 0;
  let scored = 0;
  if (n >= 2) {
    let prevEnd = 1;
    for (let start = 0; ; start += stride) {
      const end = Math.min(start + context, n);
      const T = end - start;
      const win = ids.subarray(start, end);
      const targets = new Int32Array(T).fill(-1);
      // Position t predicts id start+t+1; score targets prevEnd..end−1.
      for (let t = 0; t < T - 1; t++) if (start + t + 1 >= prevEnd) targets[t] = ids[start + t + 1];
      nll += net.forward(win, targets, 1, T);
      scored += net.scoredCount;
      if (end === n) break;
      prevEnd = end;
    }
  }
  return { tokens: n, scored, bytes, nllNats: nll, bitsPerByte: nll / (bytes * Math.LN2) };
}

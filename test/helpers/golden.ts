// The golden models' reference outputs (test/fixtures/golden/models/<name>/reference.json, described
// in test/fixtures/golden/README.md) and the one check of a scored sequence against them, shared by
// the golden tests of the reference forward pass and of the onnxruntime engine.
import { readdirSync, readFileSync } from 'node:fs';
import { GOLDEN } from './cli.ts';
import { assertClose } from './compare.ts';

export interface GoldenSequence {
  input_ids: number[];
  nll_f32: number[];
  mean_nll_f32: number;
  last_logits_f32: number[];
  logits_f32?: number[][];
}

export interface GoldenReference {
  sequences: GoldenSequence[];
  greedy: { prompt: number[]; new_tokens: number[] };
}

/** The golden model names, sorted. */
export const GOLDEN_MODELS = readdirSync(`${GOLDEN}models`).sort();

/** The folder of golden model `name` and its reference outputs. */
export function goldenReference(name: string): { dir: string; ref: GoldenReference } {
  const dir = `${GOLDEN}models/${name}`;
  return { dir, ref: JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8')) as GoldenReference };
}

/**
 * Checks one scored sequence against its reference: the full logits [T, V] when recorded and the last
 * row ≤ 1e-4, per-token NLL [T − 1] ≤ 1e-4, mean NLL ≤ 1e-5. `label` names it ("gpt2-a seq 0").
 */
export function assertGoldenScores(
  label: string,
  s: GoldenSequence,
  logits: Float32Array,
  nll: Float64Array,
  V: number,
): void {
  const T = s.input_ids.length;
  if (s.logits_f32) assertClose(logits, s.logits_f32.flat(), { abs: 1e-4, label: `${label} logits` });
  assertClose(logits.subarray((T - 1) * V), s.last_logits_f32, { abs: 1e-4, label: `${label} last logits` });
  assertClose(nll, s.nll_f32, { abs: 1e-4, label: `${label} nll` });
  const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
  assertClose(mean, s.mean_nll_f32, { abs: 1e-5, label: `${label} mean nll` });
}

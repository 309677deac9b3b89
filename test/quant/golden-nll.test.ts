// Golden: gpt2-a quantised with RTN 4-bit, group 32 (sym and asym; variants blocks,
// blocks+lm_head_untied, blocks+lm_head_tied) scores sequence 1 with the mean NLL of transformers
// within 1e-5, and the per-tensor statistics of the reference (max abs error, sums) agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { scoreReference } from '../../src/engine/reference.ts';
import { quantizeModel } from '../../src/quant/apply.ts';
import type { OutputMode } from '../../src/quant/scope.ts';
import type { Scheme } from '../../src/quant/rtn.ts';
import { GOLDEN } from '../helpers/cli.ts';

interface Variant {
  mode: Scheme;
  variant: string;
  mean_nll_f32: number;
  tensors: Record<string, { max_abs_error: number; sum_dequant: number; sum_abs_dequant: number }>;
}
const ref = JSON.parse(readFileSync(join(GOLDEN, 'quant_gpt2.reference.json'), 'utf8'))['gpt2-a'] as {
  sequence_index: number;
  group_size: number;
  mean_nll_unquantised_f32: number;
  variants: Record<string, Variant>;
};
const seq = (
  JSON.parse(readFileSync(join(GOLDEN, 'models/gpt2-a/reference.json'), 'utf8')) as {
    sequences: { input_ids: number[] }[];
  }
).sequences[ref.sequence_index].input_ids;

const OUTPUT: Record<string, OutputMode> = {
  blocks: 'none',
  'blocks+lm_head_untied': 'untied',
  'blocks+lm_head_tied': 'tied',
};

function meanNll(nll: Float64Array): number {
  let s = 0;
  for (const v of nll) s += v;
  return s / nll.length;
}

test('golden quantised NLL: both schemes × three variants within 1e-5', () => {
  const model = loadModel(join(GOLDEN, 'models/gpt2-a'));
  const ids = Int32Array.from(seq);
  const base = meanNll(scoreReference(model, { ids }).nll);
  assert.ok(Math.abs(base - ref.mean_nll_unquantised_f32) <= 1e-5, `unquantised ${base}`);
  const keys = Object.keys(ref.variants);
  assert.equal(keys.length, 6);
  for (const key of keys) {
    const v = ref.variants[key];
    const r = quantizeModel(model, {
      spec: { bits: 4, groupSize: ref.group_size, scheme: v.mode },
      scope: { blocks: true, output: OUTPUT[v.variant], embeddings: false },
    });
    const got = meanNll(scoreReference(r.model, { ids }).nll);
    assert.ok(
      Math.abs(got - v.mean_nll_f32) <= 1e-5,
      `${key}: mean NLL ${got} vs ${v.mean_nll_f32} (Δ ${got - v.mean_nll_f32})`,
    );
    assert.deepEqual(r.tensors.map((t) => t.name).sort(), Object.keys(v.tensors).sort(), key);
    for (const t of r.tensors) {
      const e = v.tensors[t.name];
      assert.ok(
        Math.abs(t.error.maxAbs - e.max_abs_error) <= 1e-7,
        `${key} ${t.name} max abs error ${t.error.maxAbs} vs ${e.max_abs_error}`,
      );
      const dq = r.model.weights.get(t.name)!.data;
      let s = 0;
      let sa = 0;
      for (const x of dq) {
        s += x;
        sa += Math.abs(x);
      }
      assert.ok(Math.abs(s - e.sum_dequant) <= 1e-6 * Math.max(1, Math.abs(e.sum_dequant)), `${key} ${t.name} sum`);
      assert.ok(Math.abs(sa - e.sum_abs_dequant) <= 1e-6 * e.sum_abs_dequant, `${key} ${t.name} sum abs`);
    }
    // tying: the untied variant keeps the embedding lookup at full precision, the tied one replaces it
    const wte = r.model.weights.get('transformer.wte.weight');
    const head = r.model.weights.get('lm_head.weight');
    if (v.variant === 'blocks+lm_head_untied') {
      assert.equal(wte, model.weights.get('transformer.wte.weight'));
      assert.notEqual(head, wte);
    }
    if (v.variant === 'blocks+lm_head_tied') assert.equal(head, wte);
    if (v.variant === 'blocks') assert.equal(head, model.weights.get('lm_head.weight'));
  }
});

// RTN quantiser: fast path against its naive twin, edge cases (zero groups, ±300, non-dividing
// groups, NaN/Inf), the golden integer levels of gpt2-a and error statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import {
  dequantize,
  quantError,
  quantizeRtn,
  quantizeRtnNaive,
  roundHalfEven,
  type QuantizedTensor,
  type QuantSpec,
  type Scheme,
} from '../../src/quant/rtn.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import type { Layout } from '../../src/model/spec.ts';
import { CheckpointError, ConfigError } from '../../src/errors.ts';
import { GOLDEN } from '../helpers/cli.ts';
import { randomTensor, readRawSafetensors } from './helpers.ts';

/**
 * Asserts that RTN puts every weight within half a step of its group (|w − ŵ| ≤ scale/2, float32
 * rounding aside) wherever the grid covers the group's range: always for sym (scale = max|w|/qpos);
 * for asym when the range holds 0 — otherwise the zero point is clamped to the level range and the
 * far end of the range cannot be reached. Returns how many weights were checked.
 */
function assertHalfStep(w: Tensor, q: QuantizedTensor, label: string): number {
  const d = dequantize(q).data;
  const { inDim, outDim, groupSize, numGroups, layout } = q;
  const at = (o: number, i: number) => (layout === 'in_out' ? i * outDim + o : o * inDim + i);
  let checked = 0;
  for (let o = 0; o < outDim; o++) {
    for (let g = 0; g < numGroups; g++) {
      const idx: number[] = [];
      for (let i = g * groupSize; i < Math.min(inDim, (g + 1) * groupSize); i++) idx.push(at(o, i));
      const vals = idx.map((k) => w.data[k]);
      if (q.scheme === 'asym' && (Math.min(...vals) > 0 || Math.max(...vals) < 0)) continue;
      const half = q.scales[o * numGroups + g] / 2;
      for (const k of idx) {
        const err = Math.abs(w.data[k] - d[k]);
        assert.ok(
          err <= half * (1 + 1e-5) + 1e-6 * Math.abs(w.data[k]),
          `${label}: weight ${k} ${w.data[k]} → ${d[k]}, error ${err} > half a step ${half}`,
        );
        checked++;
      }
    }
  }
  return checked;
}

test('roundHalfEven rounds ties to even like torch.round', () => {
  assert.deepEqual(
    [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001, 7, -7].map(roundHalfEven),
    [0, 2, 2, 0, -2, -2, 2, 3, 7, -7],
  );
});

test('fast path equals the naive twin: layouts, bits 2–8, both schemes, dividing and non-dividing groups', () => {
  let seed = 1;
  for (const layout of ['in_out', 'out_in'] as Layout[]) {
    for (const scheme of ['sym', 'asym'] as Scheme[]) {
      for (const bits of [2, 3, 4, 5, 8]) {
        for (const groupSize of [1, 4, 7, 16, 100, 'channel'] as const) {
          const w = randomTensor(16, 12, seed++);
          const spec: QuantSpec = { bits, scheme, groupSize };
          const a = quantizeRtn(w, layout, spec);
          const b = quantizeRtnNaive(w, layout, spec);
          const label = `${layout} ${scheme} ${bits} g${groupSize}`;
          assert.deepEqual(a.levels, b.levels, label);
          assert.deepEqual(a.scales, b.scales, label);
          assert.deepEqual(a.zeros, b.zeros, label);
          const inDim = layout === 'in_out' ? 16 : 12;
          const g = groupSize === 'channel' ? inDim : Math.min(groupSize, inDim);
          assert.equal(a.groupSize, g, label);
          assert.equal(a.numGroups, Math.ceil(inDim / g), label);
          // the error of RTN is at most half a step inside the range
          const checked = assertHalfStep(w, a, label);
          if (scheme === 'sym') assert.equal(checked, w.data.length, label);
        }
      }
    }
  }
});

test('fast path equals the naive twin with a keep mask, scales from remaining and from all', () => {
  for (const layout of ['in_out', 'out_in'] as Layout[]) {
    for (const scheme of ['sym', 'asym'] as Scheme[]) {
      for (const scaleFrom of ['remaining', 'all'] as const) {
        const w = randomTensor(20, 9, 77);
        const keep = new Uint8Array(w.data.length);
        for (let k = 0; k < keep.length; k += 7) keep[k] = 1;
        const spec: QuantSpec = { bits: 3, scheme, groupSize: 6 };
        const a = quantizeRtn(w, layout, spec, { keep, scaleFrom });
        const b = quantizeRtnNaive(w, layout, spec, { keep, scaleFrom });
        assert.deepEqual(a.levels, b.levels);
        assert.deepEqual(a.scales, b.scales);
        assert.deepEqual(a.kept, b.kept);
        const d = dequantize(a);
        for (let k = 0; k < keep.length; k++) if (keep[k]) assert.equal(d.data[k], w.data[k], 'kept weights are exact');
      }
    }
  }
});

test('zero-range groups never give NaN; constants are represented', () => {
  for (const scheme of ['sym', 'asym'] as Scheme[]) {
    for (const c of [0, 0.75, -0.75, 300, -300]) {
      const w = { data: new Float32Array(8).fill(c), shape: [4, 2] };
      const q = quantizeRtn(w, 'out_in', { bits: 4, scheme, groupSize: 2 });
      const d = dequantize(q);
      for (const v of d.data) {
        assert.ok(Number.isFinite(v), `${scheme} ${c}`);
        assert.ok(Math.abs(v - c) <= Math.abs(c) * 1e-6, `${scheme} ${c}: got ${v}`);
      }
      assert.ok(q.scales.every((s) => s > 0));
    }
  }
  // a group of tiny subnormal values: the float32 scale would underflow
  const tiny = { data: new Float32Array([1e-45, 2e-45, 0, 1e-45]), shape: [2, 2] };
  for (const scheme of ['sym', 'asym'] as Scheme[]) {
    const d = dequantize(quantizeRtn(tiny, 'out_in', { bits: 4, scheme, groupSize: 2 }));
    assert.ok(d.data.every(Number.isFinite));
  }
});

test('±300 weights: levels stay in range, error at most half a step', () => {
  const w = randomTensor(32, 8, 5, 300);
  for (const scheme of ['sym', 'asym'] as Scheme[]) {
    const q = quantizeRtn(w, 'in_out', { bits: 4, scheme, groupSize: 8 });
    const [lo, hi] = scheme === 'sym' ? [-8, 7] : [0, 15];
    for (const l of q.levels) assert.ok(l >= lo && l <= hi);
    // every weight within half a step of its group (asym: the groups whose range holds 0 — nearly all)
    const checked = assertHalfStep(w, q, `±300 ${scheme}`);
    assert.ok(
      checked >= (scheme === 'sym' ? w.data.length : 0.9 * w.data.length),
      `${scheme}: checked ${checked} of ${w.data.length}`,
    );
    const e = quantError(w.data, dequantize(q).data);
    assert.ok(e.relFrobenius > 0 && e.relFrobenius < 0.2);
  }
});

test('bad specs and non-finite weights are refused with clear messages', () => {
  const w = randomTensor(4, 4, 1);
  assert.throws(
    () => quantizeRtn(w, 'in_out', { bits: 1, scheme: 'sym', groupSize: 2 }),
    (e: Error) => e instanceof ConfigError && /bits must be an integer from 2 to 8, got 1/.test(e.message),
  );
  assert.throws(() => quantizeRtn(w, 'in_out', { bits: 9, scheme: 'sym', groupSize: 2 }), ConfigError);
  assert.throws(() => quantizeRtn(w, 'in_out', { bits: 4.5, scheme: 'sym', groupSize: 2 }), ConfigError);
  assert.throws(
    () => quantizeRtn(w, 'in_out', { bits: 4, scheme: 'sym', groupSize: 0 }),
    /group size must be a positive integer/,
  );
  assert.throws(
    () => quantizeRtn(w, 'in_out', { bits: 4, scheme: 'x' as Scheme, groupSize: 2 }),
    /scheme must be sym or asym/,
  );
  for (const bad of [NaN, Infinity, -Infinity]) {
    const v = randomTensor(4, 4, 1);
    v.data[5] = bad;
    assert.throws(
      () => quantizeRtn(v, 'in_out', { bits: 4, scheme: 'asym', groupSize: 2 }, { name: 'h.0.w' }),
      (e: Error) =>
        e instanceof CheckpointError &&
        e.message.includes('"h.0.w"') &&
        e.message.includes(`${bad}`) &&
        e.message.includes('index 5'),
    );
  }
});

test('quantError: max, mean abs and relative Frobenius', () => {
  const e = quantError(new Float32Array([3, 4]), new Float32Array([3, 5]));
  assert.equal(e.maxAbs, 1);
  assert.equal(e.meanAbs, 0.5);
  assert.ok(Math.abs(e.relFrobenius - 1 / 5) < 1e-12);
  assert.equal(quantError(new Float32Array(2), new Float32Array(2)).relFrobenius, 0);
});

test('golden: gpt2-a levels, scales and zeros identical to the reference files (sym and asym)', () => {
  const model = loadModel(join(GOLDEN, 'models/gpt2-a'));
  for (const scheme of ['asym', 'sym'] as Scheme[]) {
    const { tensors, metadata } = readRawSafetensors(join(GOLDEN, `quant/gpt2-a.${scheme}.levels.safetensors`));
    assert.equal(metadata.mode, scheme);
    const names = [...tensors.keys()].filter((n) => n.endsWith('.q')).map((n) => n.slice(0, -2));
    assert.equal(names.length, 9);
    for (const name of names) {
      // lm_head.weight is the tied wte [vocab, hidden] = nn.Linear layout; block weights are Conv1D
      const layout: Layout = name === 'lm_head.weight' ? 'out_in' : 'in_out';
      const w = model.weights.get(name)!;
      const q = quantizeRtn(w, layout, { bits: 4, scheme, groupSize: 32 });
      const ref = tensors.get(`${name}.q`)!;
      assert.deepEqual(q.shape, ref.shape, name);
      let diff = 0;
      for (let k = 0; k < ref.data.length; k++) if (q.levels[k] !== ref.data[k]) diff++;
      assert.equal(diff, 0, `${scheme} ${name}: ${diff} levels differ`);
      assert.deepEqual(q.scales, tensors.get(`${name}.scale`)!.data, `${scheme} ${name} scales`);
      if (scheme === 'asym') assert.deepEqual(q.zeros, tensors.get(`${name}.zero`)!.data, `${name} zeros`);
      else assert.equal(tensors.has(`${name}.zero`), false);
    }
  }
});

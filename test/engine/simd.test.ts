// The WebAssembly SIMD matmul (src/kernels/simd.ts) that the reference engine's matmul and the
// trainer's gemmNT use: bit for bit the JavaScript tiles' results, for both weight layouts, ragged
// sizes (the tails go through single dot products), with and without bias; and a whole reference
// forward pass gives identical logits with SIMD on and off.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { referenceEngine } from '../../src/engine/reference.ts';
import { matmul } from '../../src/kernels/matmul.ts';
import { setSimd } from '../../src/kernels/simd.ts';
import type { Layout } from '../../src/kernels/types.ts';
import { loadModel } from '../../src/model/load.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN } from '../helpers/cli.ts';

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function both<T>(run: () => T): [T, T] {
  try {
    assert.equal(setSimd(true), true, 'WebAssembly SIMD is available in Node 20');
    const fast = run();
    setSimd(false);
    return [fast, run()];
  } finally {
    setSimd(true);
  }
}

test('matmul through SIMD equals the JavaScript tiles bit for bit, both layouts, ragged sizes', () => {
  const rng = new Rng(4);
  for (const [T, inDim, outDim] of [
    [64, 32, 64],
    [33, 65, 130],
    [130, 128, 2051],
    [4, 1024, 12],
  ]) {
    const x = Float32Array.from({ length: T * inDim }, () => rng.normal());
    const w = Float32Array.from({ length: inDim * outDim }, () => 0.1 * rng.normal());
    const bias = Float32Array.from({ length: outDim }, () => rng.normal());
    for (const layout of ['out_in', 'in_out'] as Layout[]) {
      for (const b of [null, bias]) {
        const [fast, plain] = both(() => {
          const out = new Float32Array(T * outDim);
          matmul(out, x, w, b, T, inDim, outDim, layout);
          return out;
        });
        assert.deepEqual(bits(fast), bits(plain), `T=${T} in=${inDim} out=${outDim} ${layout} bias=${!!b}`);
      }
    }
  }
});

test('the reference engine gives identical logits with SIMD on and off', async () => {
  for (const name of ['gpt2-a', 'llama-a']) {
    const model = loadModel(`${GOLDEN}models/${name}`);
    const ids = Int32Array.from({ length: 64 }, (_, i) => (i * 29 + 3) % model.config.vocabSize);
    const e = referenceEngine(model);
    const fast = (await e.score({ ids, wantLogits: true })).logits!;
    setSimd(false);
    try {
      const plain = (await e.score({ ids, wantLogits: true })).logits!;
      assert.deepEqual(bits(fast), bits(plain), name);
    } finally {
      setSimd(true);
    }
  }
});

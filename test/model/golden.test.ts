// Golden tests: every model in test/fixtures/golden/models against the reference outputs of
// Hugging Face transformers (float32), with the tolerances of test/fixtures/golden/README.md:
// logits ≤ 1e-4 (the full 7-token logits and the last logits of every sequence), per-token NLL ≤ 1e-4,
// mean NLL ≤ 1e-5, and 20 greedy tokens identical.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scoreReference } from '../../src/engine/reference.ts';
import { block, embed, forward, greedy, head } from '../../src/model/forward.ts';
import { loadModel } from '../../src/model/load.ts';
import { GOLDEN } from '../helpers/cli.ts';
import { assertGoldenScores, GOLDEN_MODELS, goldenReference } from '../helpers/golden.ts';

const MODELS = GOLDEN_MODELS;

test('the golden fixtures hold all 12 models', () => {
  assert.deepEqual(MODELS, [
    'bloom-a',
    'gemma-a',
    'gpt2-a',
    'gpt2-b',
    'gpt_neox-a',
    'gpt_neox-b',
    'llama-a',
    'mistral-a',
    'opt-a',
    'opt-b',
    'qwen2-a',
    'xglm-a',
  ]);
});

for (const name of MODELS) {
  test(`golden ${name}: logits, NLL and greedy tokens match transformers`, () => {
    const { dir, ref } = goldenReference(name);
    const model = loadModel(dir);
    const V = model.config.vocabSize;
    ref.sequences.forEach((s, i) => {
      const r = scoreReference(model, { ids: Int32Array.from(s.input_ids), wantLogits: true });
      assertGoldenScores(`${name} seq ${i}`, s, r.logits!, r.nll, V);
    });
    const tokens = greedy(model, Int32Array.from(ref.greedy.prompt), ref.greedy.new_tokens.length);
    assert.deepEqual(Array.from(tokens), ref.greedy.new_tokens, `${name} greedy tokens`);
  });
}

test('embed + block × L + head equals forward exactly, and blocks leave their input alone', () => {
  for (const name of [
    'gpt2-a',
    'opt-b',
    'gpt_neox-a',
    'llama-a',
    'bloom-a',
    'qwen2-a',
    'mistral-a',
    'gemma-a',
    'xglm-a',
  ]) {
    const model = loadModel(`${GOLDEN}models/${name}`);
    const ids = Int32Array.from([5, 17, 300, 2, 999, 41, 7]);
    const T = ids.length;
    let x = embed(model, ids);
    for (let l = 0; l < model.config.numLayers; l++) {
      const before = x.slice();
      const next = block(model, l, x, T);
      assert.deepEqual(x, before, `${name} block ${l} modified its input`);
      x = next;
    }
    assert.deepEqual(head(model, x, T), forward(model, ids), name);
  }
});

test('hooks see the input of every block linear weight by its checkpoint name', () => {
  const model = loadModel(`${GOLDEN}models/llama-a`);
  const seen: string[] = [];
  forward(model, Int32Array.from([1, 2, 3]), {
    onLinearInput(name, x, T, inDim) {
      assert.equal(T, 3);
      assert.ok(x.length >= T * inDim);
      seen.push(name);
    },
  });
  const expected = [0, 1].flatMap((l) =>
    [
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
      'mlp.gate_proj',
      'mlp.up_proj',
      'mlp.down_proj',
    ].map((m) => `model.layers.${l}.${m}.weight`),
  );
  assert.deepEqual(seen, expected);
});

test('what a hook receives is never modified afterwards by the forward pass (every architecture)', () => {
  for (const name of MODELS) {
    const model = loadModel(`${GOLDEN}models/${name}`);
    const seen: { name: string; x: Float32Array; copy: Float32Array }[] = [];
    forward(model, Int32Array.from([4, 8, 15, 16, 23, 42]), {
      onLinearInput(n, x, T, inDim) {
        seen.push({ name: n, x, copy: x.slice(0, T * inDim) });
      },
    });
    assert.ok(seen.length >= 4 * model.config.numLayers, name);
    for (const s of seen)
      assert.deepEqual(s.x.subarray(0, s.copy.length), s.copy, `${name}: input of ${s.name} changed after the hook`);
  }
});

test('token ids outside the vocabulary and sequences longer than the positions are DataErrors', () => {
  const model = loadModel(`${GOLDEN}models/gpt2-a`);
  assert.throws(() => forward(model, Int32Array.from([1, 1000])), {
    name: 'DataError',
    message: /token id 1000 at position 1 is outside .*\[0, 1000\).*tokenizer/,
  });
  assert.throws(() => forward(model, Int32Array.from([-1])), {
    name: 'DataError',
    message: /token id -1 at position 0/,
  });
  assert.throws(() => forward(model, new Int32Array(129)), {
    name: 'DataError',
    message: /129 tokens .* beyond this model's 128 positions.*windows/,
  });
  assert.throws(() => forward(model, new Int32Array(0)), { name: 'DataError', message: /empty/ });
  assert.throws(() => scoreReference(model, { ids: Int32Array.from([3]) }), {
    name: 'DataError',
    message: /at least 2 token ids/,
  });
  // BLOOM (ALiBi) has no position limit
  const bloom = loadModel(`${GOLDEN}models/bloom-a`);
  assert.equal(forward(bloom, new Int32Array(130)).length, 130 * 1000);
});

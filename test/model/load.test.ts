// The loader over the published layouts, built from the golden models in temporary folders: names
// without the class prefix, F16/BF16 storage, two shards with an index, pytorch_model.bin, stale
// buffers, tied output matrices; every loading mistake a user can make; and the model-folder writer.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { readSafetensorsHeader } from '../../src/model/checkpoint/safetensors.ts';
import { writeModelDir, writeSafetensors } from '../../src/model/checkpoint/write.ts';
import { loadModel } from '../../src/model/load.ts';
import { withWeights } from '../../src/model/model.ts';
import { blockLinears, weightSpec } from '../../src/model/spec.ts';
import { decodeInto, type DType } from '../../src/tensor/dtype.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import {
  copyConfig,
  copyGolden,
  encode,
  goldenDir,
  goldenWeights,
  rawEntries,
  rawSafetensors,
  tempDir,
  writeTorchSave,
} from '../helpers/checkpoints.ts';

const MODELS = ['gpt2-a', 'gpt2-b', 'opt-a', 'opt-b', 'gpt_neox-a', 'gpt_neox-b', 'llama-a', 'bloom-a'];
const PREFIX: Record<string, string> = {
  gpt2: 'transformer.',
  opt: 'model.decoder.',
  gpt_neox: 'gpt_neox.',
  llama: 'model.',
  bloom: 'transformer.',
};
const arch = (name: string) => name.slice(0, name.lastIndexOf('-'));

function fails(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  };
}

/** The value a float32 takes after a round trip through `dtype` storage. */
function rounded(t: Tensor, dtype: DType): Float32Array {
  const out = new Float32Array(t.data.length);
  decodeInto(out, encode(t, dtype), dtype);
  return out;
}

/** Asserts that `dir` loads to exactly the golden tensors (after `dtype` rounding). */
function assertLoadsGolden(dir: string, name: string, dtype: DType = 'F32') {
  const m = loadModel(dir);
  for (const [n, t] of goldenWeights(name)) {
    const got = m.weights.get(n);
    assert.ok(got, `${name}: ${n} loaded`);
    assert.deepEqual(got.shape, t.shape, n);
    assert.deepEqual(got.data, rounded(t, dtype), `${name}: ${n} values`);
  }
  return m;
}

test('every golden model loads from model.safetensors, tied output = the embedding object', () => {
  for (const name of MODELS) {
    const m = assertLoadsGolden(goldenDir(name), name);
    const ref = JSON.parse(readFileSync(join(goldenDir(name), 'reference.json'), 'utf8'));
    assert.deepEqual(m.info.tied, ref.tensors_omitted_as_tied, name);
    assert.equal(m.info.format, 'safetensors');
    for (const s of weightSpec(m.config)) {
      if (m.info.tied.includes(s.name))
        assert.equal(m.weights.get(s.name), m.weights.get(s.tiedTo!), `${name}: ${s.name} is the embedding`);
    }
  }
});

test('names without the class prefix load (base-model checkpoints), including OPT\'s "decoder." form', (t) => {
  const root = tempDir(t);
  const variants: [string, (n: string) => string][] = [];
  for (const name of MODELS) {
    const p = PREFIX[arch(name)];
    variants.push([name, (n) => (n.startsWith(p) ? n.slice(p.length) : n)]);
  }
  variants.push(['opt-b', (n) => (n.startsWith('model.') ? n.slice('model.'.length) : n)]); // decoder.layers.0…
  variants.forEach(([name, rename], i) => {
    const dir = join(root, `${i}-${name}`);
    mkdirSync(dir);
    copyConfig(name, dir);
    rawSafetensors(join(dir, 'model.safetensors'), rawEntries(goldenWeights(name), 'F32', rename));
    assertLoadsGolden(dir, name);
  });
});

test('F16 and BF16 storage convert exactly to float32 and are recorded', (t) => {
  for (const dtype of ['F16', 'BF16'] as const) {
    const dir = tempDir(t);
    copyConfig('gpt_neox-a', dir);
    writeSafetensors(join(dir, 'model.safetensors'), goldenWeights('gpt_neox-a'), { dtype });
    const m = assertLoadsGolden(dir, 'gpt_neox-a', dtype);
    assert.ok(Object.values(m.info.dtypes).every((d) => d === dtype));
  }
});

test('two safetensors shards with an index load; the index is checked against the shards', (t) => {
  const dir = tempDir(t);
  copyConfig('llama-a', dir);
  const golden = goldenWeights('llama-a');
  const names = [...golden.keys()];
  const half = Math.ceil(names.length / 2);
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  shards.forEach((file, s) => {
    const part = new Map(names.slice(s * half, (s + 1) * half).map((n) => [n, golden.get(n)!]));
    writeSafetensors(join(dir, file), part, { dtype: 'F32' });
    for (const n of part.keys()) weightMap[n] = file;
  });
  const index = join(dir, 'model.safetensors.index.json');
  writeFileSync(index, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  const m = assertLoadsGolden(dir, 'llama-a');
  assert.equal(m.info.format, 'safetensors-sharded');
  assert.deepEqual(m.info.files, ['model.safetensors.index.json', ...shards]);

  const first = names[0];
  writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, [first]: shards[1] } }));
  assert.throws(
    () => loadModel(dir),
    fails(new RegExp(`says tensor "${first.replace(/\./g, '\\.')}" is in ${shards[1]}, but it is in ${shards[0]}`)),
  );
  writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, [first]: 'model-00003-of-00002.safetensors' } }));
  assert.throws(() => loadModel(dir), fails(/lists shard model-00003-of-00002\.safetensors, which is missing/));
  writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, [first]: '../../etc/passwd' } }));
  assert.throws(() => loadModel(dir), fails(/points outside the model folder/));
  writeFileSync(index, '{"weight_map": ');
  assert.throws(() => loadModel(dir), fails(/model\.safetensors\.index\.json is not valid JSON/));
  writeFileSync(index, '{"files": []}');
  assert.throws(() => loadModel(dir), fails(/no "weight_map" object/));
});

test('pytorch_model.bin as torch.save writes it loads (tied and untied, F32 and BF16), and sharded .bin too', (t) => {
  for (const [name, dtype] of [
    ['gpt2-a', 'F32'],
    ['gpt_neox-a', 'BF16'],
    ['opt-b', 'F16'],
  ] as const) {
    const dir = tempDir(t);
    copyConfig(name, dir);
    writeTorchSave(join(dir, 'pytorch_model.bin'), goldenWeights(name), dtype);
    const m = assertLoadsGolden(dir, name, dtype);
    assert.equal(m.info.format, 'pytorch');
    assert.deepEqual(m.info.files, ['pytorch_model.bin']);
  }
  const dir = tempDir(t);
  copyConfig('bloom-a', dir);
  const golden = [...goldenWeights('bloom-a')];
  const weightMap: Record<string, string> = {};
  [golden.slice(0, 10), golden.slice(10)].forEach((part, i) => {
    const file = `pytorch_model-0000${i + 1}-of-00002.bin`;
    writeTorchSave(join(dir, file), new Map(part));
    for (const [n] of part) weightMap[n] = file;
  });
  writeFileSync(join(dir, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  assert.equal(assertLoadsGolden(dir, 'bloom-a').info.format, 'pytorch-sharded');
});

test('stale buffers (attn.bias masks, masked_bias, rotary inv_freq) are ignored and listed', (t) => {
  const gpt2 = tempDir(t);
  copyConfig('gpt2-a', gpt2);
  const mask = { dtype: 'BOOL', shape: [1, 1, 128, 128], bytes: Buffer.alloc(128 * 128, 1) };
  const masked = { dtype: 'F32', shape: [], bytes: encode({ data: new Float32Array([-1e4]), shape: [] }, 'F32') };
  rawSafetensors(join(gpt2, 'model.safetensors'), [
    ...rawEntries(goldenWeights('gpt2-a'), 'F32', (n) => n.replace(/^transformer\./, '')),
    { name: 'h.0.attn.bias', ...mask },
    { name: 'h.0.attn.masked_bias', ...masked },
    { name: 'h.1.attn.bias', ...mask },
  ]);
  const m = assertLoadsGolden(gpt2, 'gpt2-a');
  assert.deepEqual(m.info.ignored.slice().sort(), ['h.0.attn.bias', 'h.0.attn.masked_bias', 'h.1.attn.bias']);

  const neox = tempDir(t);
  copyConfig('gpt_neox-a', neox);
  const inv = { data: new Float32Array([1, 0.01]), shape: [2] };
  writeTorchSave(join(neox, 'pytorch_model.bin'), goldenWeights('gpt_neox-a'), 'F32', {
    storages: [
      { key: 'inv', dtype: 'F32', numel: 2, bytes: encode(inv, 'F32') },
      { key: 'mask', dtype: 'BOOL', numel: 16, bytes: Buffer.alloc(16, 1) },
    ],
    views: [
      { name: 'gpt_neox.layers.0.attention.rotary_emb.inv_freq', key: 'inv', offset: 0, shape: [2] },
      { name: 'gpt_neox.layers.1.attention.rotary_emb.inv_freq', key: 'inv', offset: 0, shape: [2] },
      { name: 'gpt_neox.layers.0.attention.bias', key: 'mask', offset: 0, shape: [1, 1, 4, 4] },
    ],
  });
  assert.equal(assertLoadsGolden(neox, 'gpt_neox-a').info.ignored.length, 3);
});

test('a tied output matrix stored as an identical copy is shared; a different one is refused', (t) => {
  const dir = tempDir(t);
  copyConfig('opt-a', dir);
  const golden = goldenWeights('opt-a');
  const emb = golden.get('model.decoder.embed_tokens.weight')!;
  writeSafetensors(
    join(dir, 'model.safetensors'),
    new Map([...golden, ['lm_head.weight', { data: emb.data.slice(), shape: emb.shape }]]),
    { dtype: 'F32' },
  );
  const m = loadModel(dir);
  assert.deepEqual(m.info.tied, ['lm_head.weight']);
  assert.equal(m.weights.get('lm_head.weight'), m.weights.get('model.decoder.embed_tokens.weight'));

  const other = emb.data.slice();
  other[5] += 1;
  writeSafetensors(
    join(dir, 'model.safetensors'),
    new Map([...golden, ['lm_head.weight', { data: other, shape: emb.shape }]]),
    { dtype: 'F32' },
  );
  assert.throws(
    () => loadModel(dir),
    fails(/ties "lm_head\.weight" to "model\.decoder\.embed_tokens\.weight".*set "tie_word_embeddings": false/),
  );
  copyConfig('opt-a', dir, { tie_word_embeddings: false });
  const untied = loadModel(dir);
  assert.deepEqual(untied.info.tied, []);
  assert.equal(untied.weights.get('lm_head.weight')!.data[5], other[5]);
});

test('loading mistakes each give one line that names the problem and what to do', (t) => {
  const root = tempDir(t);
  let i = 0;
  const folder = (
    name: string | null,
    weights: 'golden' | 'none' | ((dir: string) => void),
    patch?: Record<string, unknown>,
  ) => {
    const dir = join(root, String(i++));
    mkdirSync(dir);
    if (weights === 'golden') copyGolden(name!, dir);
    else if (weights !== 'none') weights(dir);
    if (name) copyConfig(name, dir, patch);
    return dir;
  };
  const cases: [string, string, RegExp][] = [
    ['missing dir', join(root, 'nope'), /model directory .*nope does not exist; pass the folder/],
    ['no config', folder(null, 'none'), /has no config\.json; a Hugging Face model folder needs config\.json/],
    [
      'no weights',
      folder('gpt2-a', 'none'),
      /has no weights: expected model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin/,
    ],
    [
      'only TF weights',
      folder('gpt2-a', (d) => writeFileSync(join(d, 'tf_model.h5'), 'x')),
      /found tf_model\.h5: TensorFlow weights, which langquant does not read/,
    ],
    [
      'unknown architecture',
      folder('gpt2-a', 'golden', { model_type: 'mamba' }),
      /model_type "mamba" is not supported; langquant supports gpt2, opt, gpt_neox, llama, bloom/,
    ],
    [
      'Git LFS pointer',
      folder('gpt2-a', (d) =>
        writeFileSync(
          join(d, 'model.safetensors'),
          'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 691784\n',
        ),
      ),
      /model\.safetensors is a Git LFS pointer, not the weights; run `git lfs pull`/,
    ],
    [
      'config not JSON',
      folder(null, (d) => writeFileSync(join(d, 'config.json'), '{"model_type": "gpt2",')),
      /config\.json is not valid JSON/,
    ],
    [
      'shape disagrees',
      folder('gpt2-a', 'golden', { vocab_size: 999 }),
      /tensor "transformer\.wte\.weight" has shape \[1000, 64\] but config\.json implies \[999, 64\]/,
    ],
    [
      'fewer layers in config',
      folder('gpt2-a', 'golden', { n_layer: 1 }),
      /unexpected tensors "transformer\.h\.1\.\S+", .* and \d+ more for this gpt2 config \(1 layer,/,
    ],
    [
      'more layers in config',
      folder('gpt2-a', 'golden', { n_layer: 3 }),
      /tensors "transformer\.h\.2\.ln_1\.weight", .* are missing for this gpt2 config/,
    ],
    [
      'untied config, no output matrix',
      folder('gpt2-a', 'golden', { tie_word_embeddings: false }),
      /tensor "lm_head\.weight" is missing/,
    ],
    [
      'truncated safetensors',
      folder('gpt2-a', (d) => {
        const bytes = readFileSync(join(goldenDir('gpt2-a'), 'model.safetensors'));
        writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
      }),
      /model\.safetensors: tensor "\S+" ends at data byte \d+ but the file holds only \d+ bytes of data \(truncated\?\); the file is damaged or not safetensors — download it again/,
    ],
    [
      'header length lies',
      folder('gpt2-a', (d) => {
        const bytes = Buffer.from(readFileSync(join(goldenDir('gpt2-a'), 'model.safetensors')));
        bytes.writeBigUInt64LE(bytes.readBigUInt64LE(0) + 16n, 0);
        writeFileSync(join(d, 'model.safetensors'), bytes);
      }),
      /header is not valid UTF-8 JSON \(its length field may be wrong\)/,
    ],
    [
      'offsets lie',
      folder('gpt2-a', (d) =>
        rawSafetensors(join(d, 'model.safetensors'), rawEntries(goldenWeights('gpt2-a')), {
          header: (h) => {
            const c = structuredClone(h) as Record<string, { data_offsets: number[] }>;
            c['transformer.wte.weight'].data_offsets = c['transformer.wte.weight'].data_offsets.map((x) => x + 4);
            return c;
          },
        }),
      ),
      /offsets not contiguous|spans|ends at data byte/,
    ],
    [
      'both naming schemes',
      folder('gpt2-a', (d) => {
        const g = goldenWeights('gpt2-a');
        g.set('ln_f.weight', g.get('transformer.ln_f.weight')!);
        writeSafetensors(join(d, 'model.safetensors'), g, { dtype: 'F32' });
      }),
      /both "ln_f\.weight" and "transformer\.ln_f\.weight" are tensor transformer\.ln_f\.weight/,
    ],
    [
      'integer weights',
      folder('gpt2-a', (d) =>
        rawSafetensors(join(d, 'model.safetensors'), [
          ...rawEntries(goldenWeights('gpt2-a')).filter((e) => e.name !== 'transformer.ln_f.bias'),
          { name: 'transformer.ln_f.bias', dtype: 'I32', shape: [64], bytes: Buffer.alloc(256) },
        ]),
      ),
      /tensor "transformer\.ln_f\.bias" is stored as I32; langquant reads F32, F16 and BF16/,
    ],
  ];
  for (const [what, dir, pattern] of cases) assert.throws(() => loadModel(dir), fails(pattern), what);
});

test('keep: only the chosen tensors are held, all are still checked; a kept tied output still resolves', () => {
  const dir = goldenDir('gpt2-a');
  const cfg = loadModel(dir).config;
  const linears = new Set(blockLinears(cfg).map((s) => s.name));
  const m = loadModel(dir, { keep: (n) => linears.has(n) });
  assert.deepEqual([...m.weights.keys()].sort(), [...linears].sort());
  const out = loadModel(dir, { keep: (n) => n === 'lm_head.weight' });
  assert.deepEqual([...out.weights.keys()], ['lm_head.weight']);
  assert.deepEqual(out.info.tied, ['lm_head.weight']);
  // headers only: nothing held, yet the tie (the file lacks lm_head) and the dtypes are known
  const none = loadModel(dir, { keep: () => false });
  assert.equal(none.weights.size, 0);
  assert.deepEqual(none.info.tied, ['lm_head.weight']);
  assert.equal(Object.keys(none.info.dtypes).length, weightSpec(cfg).length - 1);
});

test('writeModelDir writes a folder that loads back identically; a separately changed output unties', (t) => {
  const src = loadModel(goldenDir('gpt2-a'));
  const dir = join(tempDir(t), 'out');
  const written = writeModelDir(dir, src, { dtype: 'F32', metadata: { langquant: 'test' } });
  assert.ok(
    written.some((p) => p.endsWith('generation_config.json')),
    'companion files copied',
  );
  assert.equal(
    readSafetensorsHeader(join(dir, 'model.safetensors')).entries.has('lm_head.weight'),
    false,
    'tied output omitted',
  );
  const back = loadModel(dir);
  assert.deepEqual(back.info.tied, ['lm_head.weight']);
  for (const [n, w] of src.weights) assert.deepEqual(back.weights.get(n)!.data, w.data, n);

  const emb = src.weights.get('transformer.wte.weight')!;
  const changed = withWeights(
    src,
    new Map([['lm_head.weight', { data: emb.data.map((x) => x * 2), shape: emb.shape }]]),
  );
  const dir2 = join(tempDir(t), 'untied');
  writeModelDir(dir2, changed, { dtype: 'BF16' });
  const cfg = JSON.parse(readFileSync(join(dir2, 'config.json'), 'utf8'));
  assert.equal(cfg.tie_word_embeddings, false);
  assert.equal(cfg.torch_dtype, 'bfloat16');
  const back2 = loadModel(dir2);
  assert.deepEqual(back2.info.tied, []);
  assert.deepEqual(back2.weights.get('lm_head.weight')!.data, rounded(changed.weights.get('lm_head.weight')!, 'BF16'));
  assert.ok(!existsSync(join(dir2, 'model.safetensors.tmp')));
});

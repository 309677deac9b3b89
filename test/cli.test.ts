// The CLI as a user runs it: `langquant inspect` over the checkpoint layouts, and every loading
// mistake as one line on stderr with a non-zero exit and no stack trace.
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeConfig } from '../src/model/config.ts';
import { weightSpec } from '../src/model/spec.ts';
import { writeSafetensors } from '../src/model/checkpoint/write.ts';
import {
  buildZip,
  copyConfig,
  goldenDir,
  goldenWeights,
  PickleEmitter,
  tempDir,
  torchSaveFiles,
  writeTorchSave,
} from './helpers/checkpoints.ts';
import { GOLDEN, runCli } from './helpers/cli.ts';

test('inspect prints the architecture and the tied output matrix', () => {
  const r = runCli(['inspect', '--model', `${GOLDEN}models/gpt2-a`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.arch, 'gpt2');
  assert.equal(out.parameters, 172288);
  assert.deepEqual(out.tied, ['lm_head.weight']);
});

test('a missing model directory is one clear line and a non-zero exit', () => {
  const r = runCli(['inspect', '--model', '/no/such/dir']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /does not exist/);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/); // no stack trace
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

/** Non-zero exit, exactly one line on stderr matching `pattern`, no stack trace, nothing on stdout. */
function assertOneLineError(args: string[], pattern: RegExp): void {
  const r = runCli(args);
  assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0], /^langquant: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /at .*\.(ts|js|mjs):\d+|internal error/);
}

test('inspect reports a pytorch_model.bin in BF16 with its ignored stale buffers', (t) => {
  const dir = tempDir(t);
  copyConfig('gpt_neox-a', dir);
  writeTorchSave(join(dir, 'pytorch_model.bin'), goldenWeights('gpt_neox-a'), 'BF16', {
    storages: [{ key: 'inv', dtype: 'F32', numel: 2, bytes: Buffer.from(new Float32Array([1, 0.01]).buffer) }],
    views: [{ name: 'gpt_neox.layers.0.attention.rotary_emb.inv_freq', key: 'inv', offset: 0, shape: [2] }],
  });
  const r = runCli(['inspect', '--model', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.format, 'pytorch');
  assert.deepEqual(out.files, ['pytorch_model.bin']);
  assert.deepEqual(Object.keys(out.dtypes), ['BF16']);
  assert.deepEqual(out.ignored, ['gpt_neox.layers.0.attention.rotary_emb.inv_freq']);
  assert.deepEqual(out.tied, []);
  const text = runCli(['inspect', '--model', dir]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /weights +pytorch: pytorch_model\.bin/);
  assert.match(text.stdout, /ignored +gpt_neox\.layers\.0\.attention\.rotary_emb\.inv_freq/);
});

test('inspect: every bad model folder is one clear line and a non-zero exit', (t) => {
  const root = tempDir(t);
  let i = 0;
  const folder = (fill: (dir: string) => void) => {
    const dir = join(root, String(i++));
    mkdirSync(dir);
    fill(dir);
    return dir;
  };
  const golden = readFileSync(join(goldenDir('gpt2-a'), 'model.safetensors'));
  const withWeights = (bytes: Buffer, patch: Record<string, unknown> = {}) =>
    folder((d) => {
      copyConfig('gpt2-a', d, patch);
      writeFileSync(join(d, 'model.safetensors'), bytes);
    });
  const lyingLength = Buffer.from(golden);
  lyingLength.writeBigUInt64LE(BigInt(golden.length), 0);
  const lyingOffsets = Buffer.from(golden);
  const n = Number(golden.readBigUInt64LE(0));
  const header = lyingOffsets.toString('utf8', 8, 8 + n).replace('"data_offsets":[0,', '"data_offsets":[8,');
  lyingOffsets.write(header.padEnd(n, ' '), 8, 'utf8');
  assert.notEqual(
    header,
    lyingOffsets.toString('utf8', 8, 8 + n).replace('"data_offsets":[8,', '"data_offsets":[0,'),
    'the header was edited',
  );

  const cases: [string, RegExp][] = [
    [folder(() => {}), /has no config\.json/],
    [folder((d) => copyConfig('gpt2-a', d)), /has no weights: expected model\.safetensors/],
    [withWeights(golden.subarray(0, golden.length - 1000)), /model\.safetensors: .*truncated.*download it again/],
    [withWeights(lyingLength), /model\.safetensors: header length \d+ does not fit the file/],
    [withWeights(lyingOffsets), /model\.safetensors: tensor .* (not contiguous|spans|ends at)/],
    [withWeights(golden, { n_embd: 32, n_head: 4 }), /has shape \[1000, 64\] but config\.json implies \[1000, 32\]/],
    [
      withWeights(golden, { model_type: 'mamba' }),
      /model_type "mamba" is not supported; langquant supports gpt2, opt, gpt_neox, llama, bloom/,
    ],
  ];
  for (const [dir, pattern] of cases) assertOneLineError(['inspect', '--model', dir], pattern);
});

test('inspect refuses a pickle that asks for os.system, without running it', (t) => {
  const dir = tempDir(t);
  copyConfig('gpt2-a', dir);
  const marker = join(dir, 'pwned');
  const evil = new PickleEmitter()
    .bytes(0x80, 2)
    .global('os', 'system')
    .bytes(0x28)
    .str(`touch ${marker}`)
    .bytes(0x74, 0x52, 0x2e)
    .build();
  writeFileSync(join(dir, 'pytorch_model.bin'), buildZip(torchSaveFiles([], evil)));
  assertOneLineError(['inspect', '--model', dir], /pytorch_model\.bin: refusing to execute os\.system from its pickle/);
  assert.equal(existsSync(marker), false, 'the payload must not run');
});

test('inspect reads headers only: a sparse 37 GB checkpoint with an 8.6-billion-value embedding is inspected', (t) => {
  // Reading this embedding would need a Float32Array longer than 2^32 values: it must not be read.
  const dir = tempDir(t);
  const config = { model_type: 'gpt2', vocab_size: 2 ** 20, n_embd: 8192, n_head: 64, n_layer: 1, n_positions: 128 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const header: Record<string, unknown> = {};
  let off = 0;
  let params = 0;
  for (const s of weightSpec(normalizeConfig(config))) {
    if (s.tiedTo) continue; // lm_head left out: tied to wte
    const bytes = s.shape.reduce((a, b) => a * b, 1) * 4;
    header[s.name] = { dtype: 'F32', shape: s.shape, data_offsets: [off, off + bytes] };
    off += bytes;
    params += bytes / 4;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  try {
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    ftruncateSync(fd, 8 + json.length + off); // a hole: no disk used
  } finally {
    closeSync(fd);
  }
  assert.ok(off > 36e9);
  const r = runCli(['inspect', '--model', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.parameters, params);
  assert.deepEqual(out.tied, ['lm_head.weight']);
  assert.deepEqual(out.dtypes, { F32: Object.keys(header).length });
});

test('inspect: a tied output stored as an identical copy is reported tied and counted once; a file is not a folder', (t) => {
  const dir = tempDir(t);
  copyConfig('opt-a', dir);
  const golden = goldenWeights('opt-a');
  const emb = golden.get('model.decoder.embed_tokens.weight')!;
  writeSafetensors(
    join(dir, 'model.safetensors'),
    new Map([...golden, ['lm_head.weight', { data: emb.data.slice(), shape: emb.shape }]]),
    { dtype: 'F32' },
  );
  const r = runCli(['inspect', '--model', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.tied, ['lm_head.weight']);
  assert.equal(out.parameters, 172416); // as the golden opt-a folder, which leaves lm_head out
  assertOneLineError(
    ['inspect', '--model', join(dir, 'config.json')],
    /config\.json is a file, not a model folder; pass the folder that holds config\.json/,
  );
  copyConfig('opt-a', dir, { model_type: undefined });
  assertOneLineError(['inspect', '--model', dir], /config\.json has no "model_type"/);
});

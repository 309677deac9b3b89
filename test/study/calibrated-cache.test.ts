// The run folder's cache of calibrated quantised models (src/study/calibrated-cache.ts): the second
// use of the same (model, method, parameters, calibration tokens) does not calibrate again and gives
// the calibrated model bit for bit (weights and bit account); other calibration text is another model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { weight } from '../../src/model/model.ts';
import { quantizeModelCalibrated, type FastCalibratedOptions } from '../../src/quant/calibrated.ts';
import {
  cachedCalibrated,
  calibratedKey,
  decodeCalibrated,
  encodeCalibrated,
} from '../../src/study/calibrated-cache.ts';
import { Rng } from '../../src/util/rng.ts';

const MODEL = new URL('../../models/gpt2-mini', import.meta.url).pathname;

function windows(seed: number): Int32Array[] {
  const rng = new Rng(seed);
  return [40, 64, 17].map((n) => Int32Array.from({ length: n }, () => Math.floor(rng.next() * 2048)));
}

function assertSameModel(
  a: Awaited<ReturnType<typeof quantizeModelCalibrated>>,
  b: ReturnType<typeof decodeCalibrated>,
): void {
  assert.deepEqual(b.account, a.account);
  for (const t of a.targets) {
    for (const n of t.replace) assert.deepEqual(weight(b.model, n).data, weight(a.model, n).data, n);
    const qa = a.quantized.get(t.name)!;
    const qb = b.quantized.get(t.name)!;
    assert.deepEqual([...qb.levels], [...qa.levels], `${t.name} levels`);
    assert.deepEqual(qb.scales, qa.scales);
    assert.deepEqual(qb.zeros, qa.zeros);
  }
}

test('a calibrated model is calibrated once per run folder: the second use reads it back, bit for bit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-calibrated-cache-'));
  try {
    const model = loadModel(MODEL);
    // the reference forward, so the result is comparable bit for bit with quantizeModelCalibrated's
    const opts: Omit<FastCalibratedOptions, 'scope' | 'errors'> = {
      method: 'gptq',
      spec: { bits: 4, scheme: 'asym', groupSize: 32 },
      windows: windows(1),
      gptq: { actOrder: false },
      awq: { clip: false },
      engine: 'reference',
    };
    const first = await cachedCalibrated(dir, 'hash-a', model, opts);
    assert.equal(first.reused, false);
    const mtime = statSync(first.file).mtimeMs;
    const second = await cachedCalibrated(dir, 'hash-a', model, opts);
    assert.equal(second.reused, true, 'the second use does not calibrate');
    assert.equal(second.file, first.file);
    assert.equal(statSync(first.file).mtimeMs, mtime, 'the file is not rewritten');
    assertSameModel(await quantizeModelCalibrated(model, { ...opts, errors: false }), second.result);
    // Another language's text, another model, or other parameters: another key, calibrated anew.
    assert.equal((await cachedCalibrated(dir, 'hash-a', model, { ...opts, windows: windows(2) })).reused, false);
    assert.equal((await cachedCalibrated(dir, 'hash-b', model, opts)).reused, false);
    assert.equal((await cachedCalibrated(dir, 'hash-a', model, { ...opts, gptq: { actOrder: true } })).reused, false);
    assert.equal(readdirSync(join(dir, 'calibrated')).length, 4);
    // A damaged file is calibrated again, not trusted.
    writeFileSync(first.file, Buffer.from([1, 2, 3]));
    const again = await cachedCalibrated(dir, 'hash-a', model, opts);
    assert.equal(again.reused, false);
    assert.equal((await cachedCalibrated(dir, 'hash-a', model, opts)).reused, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the key covers every calibration token, not only the window lengths', async () => {
  const w = windows(3);
  const o = { method: 'gptq' as const, spec: { bits: 4, scheme: 'asym' as const, groupSize: 32 }, windows: w };
  const changed = w.map((x) => x.slice());
  changed[2][5] = (changed[2][5] + 1) % 2048;
  assert.notEqual(calibratedKey('m', { ...o, windows: changed }), calibratedKey('m', o));
  assert.equal(calibratedKey('m', { ...o, windows: w.map((x) => x.slice()) }), calibratedKey('m', o));
  // and the forward that produced the statistics
  assert.notEqual(calibratedKey('m', { ...o, engine: 'ort' }), calibratedKey('m', { ...o, engine: 'reference' }));
});

test('the stored form round-trips AWQ (its own dequantised weights), symmetric levels and 8 bits', async () => {
  const model = loadModel(MODEL);
  for (const [method, spec] of [
    ['awq', { bits: 4, scheme: 'asym', groupSize: 32 }],
    ['gptq', { bits: 4, scheme: 'sym', groupSize: 64 }],
    ['gptq', { bits: 8, scheme: 'sym', groupSize: 'channel' }],
  ] as const) {
    const r = await quantizeModelCalibrated(model, { method, spec, windows: windows(4), errors: false });
    assertSameModel(r, decodeCalibrated(model, encodeCalibrated(r)));
  }
});

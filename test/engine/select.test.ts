// createEngine: each name gives the engine it says; `auto` falls back to the reference engine with
// one notice per process when onnxruntime cannot load; `ort` then fails with a message that says
// what to do. The onnxruntime loader is replaced by a failing factory to simulate a missing binary,
// and the real CLI is run with onnxruntime-node hidden or broken by a module hook (hide-ort.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OrtUnavailableError } from '../../src/engine/ort/runtime.ts';
import { createEngine } from '../../src/engine/select.ts';
import type { EngineName } from '../../src/engine/types.ts';
import { ConfigError, UserError } from '../../src/errors.ts';
import { loadModel } from '../../src/model/load.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GOLDEN, runCli } from '../helpers/cli.ts';

const model = loadModel(`${GOLDEN}models/gpt2-a`);
const ids = Int32Array.from([1, 50, 7, 300, 2]);
const missing = async () => {
  throw new OrtUnavailableError('libonnxruntime.so.1: cannot open shared object file');
};

test('ort, reference and auto give engines that agree', async () => {
  const ort = await createEngine(model, 'ort');
  const ref = await createEngine(model, 'reference');
  const auto = await createEngine(model, 'auto', { onNotice: () => assert.fail('no notice when onnxruntime loads') });
  assert.equal(ort.name, 'ort');
  assert.equal(ref.name, 'reference');
  assert.equal(auto.name, 'ort');
  const a = await ort.score({ ids });
  const b = await ref.score({ ids });
  for (let t = 0; t < a.nll.length; t++) assert.ok(Math.abs(a.nll[t] - b.nll[t]) < 1e-4);
  assert.deepEqual(a.top1, b.top1);
  for (const e of [ort, ref, auto]) await e.dispose();
});

test('auto falls back to the reference engine with a single notice; ort says what to do', async () => {
  const notices: string[] = [];
  const opts = { ortFactory: missing, onNotice: (m: string) => notices.push(m) };
  const first = await createEngine(model, 'auto', opts);
  const second = await createEngine(model, 'auto', opts);
  assert.equal(first.name, 'reference');
  assert.equal(second.name, 'reference');
  assert.equal(notices.length, 1);
  // once per key: each replicate (its context) of a worker that runs several says it in its own log
  const job1 = {};
  const job2 = {};
  for (const key of [job1, job1, job2]) await createEngine(model, 'auto', { ...opts, noticeKey: key });
  assert.equal(notices.length, 3);
  assert.match(
    notices[0],
    /onnxruntime-node is not available \(libonnxruntime\.so\.1: cannot open shared object file\); using the TypeScript reference engine/,
  );
  await assert.rejects(createEngine(model, 'ort', opts), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(
      (e as Error).message,
      /onnxruntime-node could not be loaded .*run `npm install` again, or pass --engine reference/,
    );
    return true;
  });
});

test('auto does not hide a failure that is not a missing onnxruntime', async () => {
  const broken = async () => {
    throw new Error('bug');
  };
  await assert.rejects(createEngine(model, 'auto', { ortFactory: broken }), /bug/);
});

test('an unknown engine name is a ConfigError naming the choices', async () => {
  await assert.rejects(createEngine(model, 'fast' as EngineName), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match((e as Error).message, /unknown engine "fast"; choose one of auto, ort, reference/);
    return true;
  });
});

// The real CLI on a machine where onnxruntime cannot load (simulated by hide-ort.mjs, preloaded).
const HIDE_ORT = new URL('./hide-ort.mjs', import.meta.url).href;
for (const [mode, reason] of [
  ['missing', /Cannot find package 'onnxruntime-node'/],
  ['broken', /libonnxruntime\.so\.1: cannot open shared object file/],
] as const) {
  test(`CLI without a working onnxruntime (${mode}): auto says so once and scores with the reference engine; --engine ort is one line`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'lq-noort-'));
    const idsFile = join(dir, 'ids.json');
    writeFileSync(
      idsFile,
      JSON.stringify([
        [1, 50, 7, 300, 2],
        [5, 6, 7, 8],
        [9, 10, 11],
      ]),
    );
    const env = { NODE_OPTIONS: `--import=${HIDE_ORT}`, LQ_TEST_ORT: mode };
    const model = `${GOLDEN}models/gpt2-a`;
    const r = runCli(['nll', '--model', model, '--ids', idsFile], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one notice for three sequences: ${r.stderr}`);
    assert.match(
      lines[0],
      /^langquant: onnxruntime-node is not available \(.*\); using the TypeScript reference engine/,
    );
    assert.match(lines[0], reason);
    // The numbers are the reference engine's, as without the hook.
    const plain = runCli(['nll', '--model', model, '--ids', idsFile, '--engine', 'reference']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(plain.stdout));
    const forced = runCli(['nll', '--model', model, '--ids', idsFile, '--engine', 'ort'], { env });
    assert.notEqual(forced.code, 0);
    assert.equal(forced.stdout, '');
    assert.equal(forced.stderr.trim().split('\n').length, 1, forced.stderr);
    assert.match(
      forced.stderr,
      /onnxruntime-node could not be loaded .*; run `npm install` again, or pass --engine reference/,
    );
  });
}

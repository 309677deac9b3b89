// A NaN or ±Inf that appears while scoring (logits that overflow in a model with finite but huge
// weights, an engine fault) is an error naming the sequence and the token: in scoreTokens, in the
// `nll` and `perplexity` commands (never `null` in nll's JSON, never NaN in the table), and as the
// failure reason of a study replicate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NonFiniteError } from '../../src/errors.ts';
import type { Engine } from '../../src/engine/types.ts';
import { scoreTokens } from '../../src/eval/score.ts';
import { writeModelDir } from '../../src/model/checkpoint/write.ts';
import { loadModel } from '../../src/model/load.ts';
import { withWeights } from '../../src/model/model.ts';
import { GOLDEN, runCli } from '../helpers/cli.ts';

/** An engine whose NLL is 1 everywhere except `bad` at absolute token `at` (its window's copy). */
function faultyEngine(at: number, bad: number, windowStarts: number[]): Engine {
  let w = 0;
  return {
    name: 'ort',
    async score(req) {
      const start = windowStarts[w++];
      const nll = new Float64Array(req.ids.length - 1).fill(1);
      for (let p = 0; p < nll.length; p++) if (start + p + 1 === at) nll[p] = bad;
      return { nll, top1: new Int32Array(nll.length) };
    },
    dispose: async () => {},
  };
}

test('scoreTokens: a non-finite NLL is a NonFiniteError naming the sequence, the token and the window', async () => {
  // 10 ids, context 4, stride 2: windows start at 0, 2, 4, 6; token 7 is scored by the third window.
  for (const bad of [NaN, Infinity, -Infinity]) {
    await assert.rejects(
      scoreTokens(faultyEngine(7, bad, [0, 2, 4, 6]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], {
        context: 4,
        stride: 2,
        sequence: 'unit art_3 of swh',
      }),
      (e: Error) =>
        e instanceof NonFiniteError &&
        e.sequence === 'unit art_3 of swh' &&
        e.position === 7 &&
        e.message.startsWith(
          `the ort engine gave a non-finite NLL (${bad}) for token 7 of unit art_3 of swh, window 3 of 4: the model's logits overflow`,
        ),
    );
  }
  // a position that is computed but not scored by this window (scored by the previous one) does not count
  const s = await scoreTokens(faultyEngine(99, NaN, [0, 2, 4, 6]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], {
    context: 4,
    stride: 2,
  });
  assert.equal(s.nllSum, 9);
});

const MODEL = join(GOLDEN, 'models/gpt2-a');

test('nll and perplexity on a model whose logits overflow: one line naming sequence and token, never null or NaN', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-overflow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const model = loadModel(MODEL);
  const g = model.weights.get('transformer.ln_f.weight')!;
  const huge = join(dir, 'huge');
  mkdirSync(huge);
  // Finite weights (3e38 < float32's largest): the loader accepts them; the logits overflow.
  writeModelDir(
    huge,
    withWeights(
      model,
      new Map([['transformer.ln_f.weight', { data: new Float32Array(g.data.length).fill(3e38), shape: g.shape }]]),
    ),
    { dtype: 'F32' },
  );
  const vocab: Record<string, number> = {};
  for (let b = 33; b < 127; b++) vocab[String.fromCharCode(b)] = b; // printable ASCII: id = byte
  writeFileSync(join(huge, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(huge, 'merges.txt'), '#version: 0.2\n');
  const ids = join(dir, 'ids.json');
  writeFileSync(
    ids,
    JSON.stringify([
      [5, 6, 7, 8],
      [1, 2, 3],
    ]),
  );
  const oneLine = (r: { code: number; stdout: string; stderr: string }, re: RegExp) => {
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /null|at .*\.ts:\d+|internal error/);
  };
  for (const engine of ['reference', 'auto']) {
    oneLine(
      runCli(['nll', '--model', huge, '--ids', ids, '--engine', engine]),
      /^langquant: the (reference|ort) engine gave a non-finite NLL \(NaN\) for token 1 of sequence 1 of .*ids\.json: the model's logits overflow/,
    );
  }
  const text = join(dir, 'a.txt');
  writeFileSync(text, 'abcdefghij');
  oneLine(
    runCli(['perplexity', '--model', huge, '--text', text, '--engine', 'reference', '--context', '4']),
    /non-finite NLL \(NaN\) for token 1 of text file .*a\.txt, window 1 of \d+:/,
  );
});

test('a study replicate whose logits overflow is recorded failed with the NonFiniteError as its reason', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-overflow-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kinds = fileURLToPath(new URL('../fixtures/pipelines/overflow-kinds.ts', import.meta.url));
  const yaml = join(dir, 'p.yaml');
  writeFileSync(
    yaml,
    [
      'name: overflow',
      `kinds: ${JSON.stringify(kinds)}`,
      'seed: 1',
      'experiments:',
      `  - { id: O-1, kind: overflow, params: { dir: ${JSON.stringify(MODEL)} } }`,
      '',
    ].join('\n'),
  );
  const out = join(dir, 'run');
  const r = runCli(['run', yaml, '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  const s = runCli(['status', out, '--json']);
  const e = (
    JSON.parse(s.stdout) as { experiments: { id: string; status: string; reason: string; attempts: number }[] }
  ).experiments[0];
  assert.equal(e.status, 'failed');
  assert.match(
    e.reason,
    /^replicate 0: the reference engine gave a non-finite NLL \(NaN\) for token 1 of unit u1 of en, window 1 of 2: the model's logits overflow \(huge weights\?\) or the engine failed — check the weights with `langquant inspect --check`$/,
  );
  assert.equal(e.attempts, 1); // a NonFiniteError is the model's, not a transient fault: not retried
});

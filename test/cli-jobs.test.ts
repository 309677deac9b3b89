// `run --jobs auto`: one replicate per core only when every model runs on one onnxruntime thread.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autoJobs, decideJobs } from '../src/cli/jobs.ts';
import { runCli } from './helpers/cli.ts';

test('decideJobs: one per core for narrow models only', () => {
  assert.equal(decideJobs([128, 128, 256], 2).jobs, 2);
  assert.equal(decideJobs([128, 768], 2).jobs, 1);
  assert.equal(decideJobs([128, null], 2).jobs, 1, 'a model not readable yet: one at a time');
  assert.equal(decideJobs([128], 1).jobs, 1);
  assert.equal(decideJobs([], 4).jobs, 1);
  assert.match(decideJobs([128], 2).reason, /at most 256 wide/);
});

test('autoJobs reads the widths of the models the experiments use', () => {
  const spec = (path: string, used = ['base']) => ({
    models: { base: { path }, other: { path: '/nowhere' } } as never,
    experiments: [{ models: used }] as never,
  });
  assert.equal(autoJobs(spec('models/gpt2-mini'), 2).jobs, 2);
  assert.equal(autoJobs(spec('/nowhere'), 2).jobs, 1);
  assert.equal(autoJobs(spec('models/gpt2-mini', ['base', 'other']), 2).jobs, 1);
});

test('run --jobs takes auto or a count, and says so otherwise', () => {
  for (const bad of ['abc', '0', '1.5']) {
    const r = runCli(['run', '--jobs', bad, '--out', '/nonexistent/langquant-jobs-test']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--jobs ${bad.replace('.', '\\.')}: expected 'auto' or an integer ≥ 1`));
  }
});

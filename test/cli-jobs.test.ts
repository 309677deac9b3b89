// `run --jobs auto`: one replicate per core, as many as fit in half the memory, each on its share of the cores.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autoJobs, decideJobs, replicateBytes } from '../src/cli/jobs.ts';
import { parameterCount } from '../src/model/spec.ts';
import { normalizeConfig } from '../src/model/config.ts';
import { loadConfig } from '../src/model/load.ts';
import { runCli } from './helpers/cli.ts';
import { GPT2_SMALL_RAW, TINYLLAMA_RAW } from './helpers/configs.ts';

const GiB = 2 ** 30;

test('decideJobs: one per core while the replicates fit in half the memory, cores shared', () => {
  const gpt2Small = 124e6;
  assert.deepEqual(
    [decideJobs([1e6, 2e6], 2, 24 * GiB).jobs, decideJobs([1e6, 2e6], 2, 24 * GiB).cpus],
    [2, 1],
    'mini models: one per core, one core each',
  );
  const small = decideJobs([gpt2Small, 160e6], 2, 24 * GiB);
  assert.deepEqual([small.jobs, small.cpus], [2, 1], 'GPT-2-small and Pythia-160m shapes on the 2-core machine');
  assert.match(small.reason, /2 at once, one core each/);
  const llama = decideJobs([1.1e9], 2, 24 * GiB);
  assert.deepEqual([llama.jobs, llama.cpus], [1, 2], 'a 1.1 B model: one at a time on every core');
  assert.match(llama.reason, /needs about 8\.7 GiB, half the memory is 12\.0 GiB/);
  const wide = decideJobs([gpt2Small], 16, 24 * GiB);
  assert.deepEqual([wide.jobs, wide.cpus], [8, 2], '16 cores, memory for 8 replicates: 8 of 2 cores');
  assert.equal(decideJobs([1e6, null], 2, 24 * GiB).jobs, 1, 'a model not readable yet: one at a time');
  assert.equal(decideJobs([1e6], 1, 24 * GiB).jobs, 1);
  assert.equal(decideJobs([], 4, 24 * GiB).jobs, 1);
  assert.equal(decideJobs([], 4, 24 * GiB).cpus, 4);
  assert.equal(replicateBytes(0), 512 * 2 ** 20);
});

test('parameterCount: GPT-2-small and TinyLlama shapes from their configs', () => {
  const gpt2 = normalizeConfig({ ...GPT2_SMALL_RAW });
  // 124.4 M: every weight, bias and norm of GPT-2 small, the tied output matrix once
  assert.ok(Math.abs(parameterCount(gpt2) - 124.3e6) < 0.2e6, String(parameterCount(gpt2)));
  const llamaRaw = TINYLLAMA_RAW;
  const llama = normalizeConfig(llamaRaw);
  assert.ok(Math.abs(parameterCount(llama) - 1.1e9) < 0.01e9, String(parameterCount(llama)));
  // the same block as Mistral: the gated MLP counted as such on every architecture that has it
  assert.equal(parameterCount(normalizeConfig({ ...llamaRaw, model_type: 'mistral' })), parameterCount(llama));
  assert.ok(parameterCount(loadConfig('models/gpt2-mini')) < 2e6);
});

test('autoJobs reads the configs of the models the experiments use', () => {
  const spec = (path: string, used = ['base']) => ({
    models: { base: { path }, other: { path: '/nowhere' } } as never,
    experiments: [{ models: used }] as never,
  });
  assert.deepEqual(autoJobs(spec('models/gpt2-mini'), 2, 24 * GiB), {
    jobs: 2,
    cpus: 1,
    reason: autoJobs(spec('models/gpt2-mini'), 2, 24 * GiB).reason,
  });
  assert.equal(autoJobs(spec('models/gpt2-mini'), 2, 1 * GiB).jobs, 1, 'no memory for two');
  assert.equal(autoJobs(spec('/nowhere'), 2, 24 * GiB).jobs, 1);
  assert.equal(autoJobs(spec('models/gpt2-mini', ['base', 'other']), 2, 24 * GiB).jobs, 1);
});

test('run --jobs takes auto or a count, and says so otherwise', () => {
  for (const bad of ['abc', '0', '1.5']) {
    const r = runCli(['run', '--jobs', bad, '--out', '/nonexistent/langquant-jobs-test']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--jobs ${bad.replace('.', '\\.')}: expected 'auto' or an integer ≥ 1`));
  }
});

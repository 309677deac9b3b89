// The hub through the real CLI: `langquant download` against a local fake hub (HF_ENDPOINT,
// HF_HUB_CACHE), then `nll --model org/name` from the cache with HF_HUB_OFFLINE=1, the one-line
// error offline when the model is not cached, and `plan --model base=org/name` (no download;
// the fingerprint follows the commit).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { goldenDir, tempDir } from '../helpers/checkpoints.ts';
import { runCliAsync } from '../helpers/cli.ts';
import { goldenReference } from '../helpers/golden.ts';
import { FakeHub } from './fake-hub.ts';

let hub: FakeHub;
before(async () => {
  hub = await new FakeHub().start();
});
after(async () => {
  await hub.stop();
});

const files = (name: string) => ({
  'config.json': readFileSync(join(goldenDir(name), 'config.json')),
  'model.safetensors': readFileSync(join(goldenDir(name), 'model.safetensors')),
});

test('langquant download, then nll --model org/name offline from the cache; offline without it, one line naming what is missing', async (t) => {
  const cache = tempDir(t, 'clihub');
  const commit = hub.publish('org/qwen2-a', files('qwen2-a'), { lfs: ['model.safetensors'] });
  const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '' };
  const dl = await runCliAsync(['download', 'org/qwen2-a'], { env });
  assert.equal(dl.code, 0, dl.stderr);
  assert.match(
    dl.stdout,
    new RegExp(`org/qwen2-a → .*models--org--qwen2-a/snapshots/${commit} \\(commit ${commit.slice(0, 12)}, 2 files\\)`),
  );
  assert.match(dl.stderr, /fetched model\.safetensors of org\/qwen2-a \(.*\/s\)/);

  const { ref } = goldenReference('qwen2-a');
  const ids = join(cache, 'ids.json');
  writeFileSync(ids, JSON.stringify([ref.sequences[1].input_ids]));
  hub.log.length = 0;
  const nll = await runCliAsync(['nll', '--model', 'org/qwen2-a', '--ids', ids, '--engine', 'reference'], {
    env: { ...env, HF_HUB_OFFLINE: '1' },
  });
  assert.equal(nll.code, 0, nll.stderr);
  assert.ok(Math.abs(JSON.parse(nll.stdout).sequences[0].meanNll - ref.sequences[1].mean_nll_f32) <= 1e-5);
  assert.equal(hub.log.length, 0, 'offline: no request');

  const missing = await runCliAsync(['inspect', '--model', 'org/not-cached'], { env: { ...env, HF_HUB_OFFLINE: '1' } });
  assert.equal(missing.code, 2);
  assert.match(
    missing.stderr,
    /^langquant: HF_HUB_OFFLINE is set, and no cached snapshot of org\/not-cached .*run `langquant download org\/not-cached`/,
  );
  assert.equal(missing.stderr.trim().split('\n').length, 1);

  const gated = await runCliAsync(['download', 'org/absent'], { env });
  assert.equal(gated.code, 2);
  assert.match(gated.stderr, /^langquant: org\/absent was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\)/);
});

test("plan --model base=org/name reads the cache only; the model's fingerprint changes when its branch moves", async (t) => {
  const cache = tempDir(t, 'clihubplan');
  const dir = tempDir(t, 'clihubpipe');
  writeFileSync(
    join(dir, 'p.yaml'),
    'name: hubplan\nmodels:\n  base: ./nowhere\ncorpus:\n  groups: { high: [eng], low: [yor] }\nexperiments:\n  - { id: A-001, kind: baseline, params: { model: base } }\n',
  );
  const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '' };
  hub.publish('org/plan-model', files('gpt2-a'), { lfs: ['model.safetensors'] });
  const plan = (extra: string[] = []) =>
    runCliAsync(
      ['plan', join(dir, 'p.yaml'), '--model', 'base=org/plan-model', '--out', join(dir, 'run'), '--json', ...extra],
      { env },
    );
  hub.log.length = 0;
  const before = await plan();
  assert.equal(hub.log.length, 0, 'plan never downloads');
  assert.match(
    before.stdout + before.stderr,
    /org\/plan-model is not in the cache .*langquant download org\/plan-model/,
  );
  assert.equal((await runCliAsync(['download', 'org/plan-model'], { env })).code, 0);
  const a = await plan();
  assert.equal(a.code, 0, a.stderr);
  const cfg = JSON.parse(files('gpt2-a')['config.json'].toString());
  hub.publish(
    'org/plan-model',
    { ...files('gpt2-a'), 'config.json': Buffer.from(JSON.stringify({ ...cfg, layer_norm_epsilon: 1e-6 })) },
    { lfs: ['model.safetensors'] },
  );
  assert.equal((await runCliAsync(['download', 'org/plan-model'], { env })).code, 0);
  const b = await plan();
  const fp = (s: string) => JSON.stringify(JSON.parse(s)).match(/"fingerprint":"([0-9a-f]+)"/)?.[1];
  assert.ok(fp(a.stdout) && fp(b.stdout) && fp(a.stdout) !== fp(b.stdout), 'a moved branch changes the fingerprint');
});

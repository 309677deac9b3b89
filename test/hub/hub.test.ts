// Hugging Face model ids: the huggingface_hub cache read as that library writes it, and downloads
// against a local fake hub (fake-hub.ts: model info, resolve with ETag / X-Linked-Etag /
// X-Repo-Commit headers, redirects to a CDN on another origin, dropped connections, damaged bytes,
// gated and missing files). No test reaches the internet.
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { scoreReference } from '../../src/engine/reference.ts';
import { hubCacheDir, hubSettings, parseModelId, repoFolder, type HubSettings } from '../../src/hub/cache.ts';
import { HubError } from '../../src/hub/download.ts';
import { classifyModelRef, fetchModel, fromCache } from '../../src/hub/resolve.ts';
import { loadModel } from '../../src/model/load.ts';
import { goldenDir, tempDir } from '../helpers/checkpoints.ts';
import { assertGoldenScores, goldenReference } from '../helpers/golden.ts';
import { FakeHub, gitSha1, sha256 } from './fake-hub.ts';

const GPT2 = {
  'config.json': readFileSync(join(goldenDir('gpt2-a'), 'config.json')),
  'generation_config.json': readFileSync(join(goldenDir('gpt2-a'), 'generation_config.json')),
  'model.safetensors': readFileSync(join(goldenDir('gpt2-a'), 'model.safetensors')),
  'README.md': Buffer.from('# not needed\n'),
};

function assertScoresGolden(dir: string): void {
  const model = loadModel(dir);
  const { ref } = goldenReference('gpt2-a');
  const s = ref.sequences[0];
  const r = scoreReference(model, { ids: Int32Array.from(s.input_ids), wantLogits: true });
  assertGoldenScores('gpt2-a from the hub cache', s, r.logits!, r.nll, model.config.vocabSize);
}

test('model ids and paths: org/name[@revision]; an existing folder wins; paths are never ids', (t) => {
  assert.deepEqual(parseModelId('openai-community/gpt2'), {
    repo: 'openai-community/gpt2',
    revision: 'main',
    pinned: false,
  });
  assert.deepEqual(parseModelId('Qwen/Qwen2.5-0.5B@v1.0'), {
    repo: 'Qwen/Qwen2.5-0.5B',
    revision: 'v1.0',
    pinned: true,
  });
  assert.equal(
    parseModelId('facebook/xglm-564M@0123456789abcdef0123456789abcdef01234567')?.revision,
    '0123456789abcdef0123456789abcdef01234567',
  );
  for (const p of [
    './models/x',
    '../models/gpt2',
    '/abs/path',
    'a/b/c',
    'gpt2',
    'org/-bad',
    'org/na..me',
    'org/name--x',
    '~/m',
  ])
    assert.equal(parseModelId(p), null, p);
  assert.throws(() => parseModelId('org/name@'), /revision after '@' must be a branch, tag or commit hash/);
  const dir = tempDir(t, 'ref');
  mkdirSync(join(dir, 'org', 'name'), { recursive: true });
  assert.deepEqual(classifyModelRef('org/name', dir), { kind: 'folder', dir: join(dir, 'org/name') });
  assert.equal(classifyModelRef('org/other', dir).kind, 'hub');
  assert.equal(classifyModelRef('../nowhere', dir).kind, 'folder');
});

test('the cache folder follows huggingface_hub: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME/hub, XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub', () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h' }), '/c');
  assert.equal(hubCacheDir({ HUGGINGFACE_HUB_CACHE: '/old', HF_HOME: '/h' }), '/old');
  assert.equal(hubCacheDir({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' }), '/h/hub');
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
  assert.match(hubCacheDir({}), /\/\.cache\/huggingface\/hub$/);
  const s = hubSettings({
    HF_HUB_CACHE: '/c',
    HF_ENDPOINT: 'http://mirror.local/',
    HF_TOKEN: 'tok',
    HF_HUB_OFFLINE: '1',
  });
  assert.deepEqual({ ...s }, { cacheDir: '/c', endpoint: 'http://mirror.local', token: 'tok', offline: true });
  assert.equal(hubSettings({}).endpoint, 'https://huggingface.co');
  assert.equal(hubSettings({ HF_HUB_OFFLINE: '0' }).offline, false);
});

test('a cache written as huggingface_hub writes it (refs, blobs by ETag, snapshot links) is read without the network; offline, a missing file is named', (t) => {
  const cache = tempDir(t, 'hfcache');
  const commit = 'a'.repeat(40);
  const root = repoFolder(cache, 'org/gpt2-a');
  mkdirSync(join(root, 'blobs'), { recursive: true });
  mkdirSync(join(root, 'refs'), { recursive: true });
  mkdirSync(join(root, 'snapshots', commit), { recursive: true });
  writeFileSync(join(root, 'refs', 'main'), commit); // huggingface_hub writes no newline
  for (const [name, bytes] of Object.entries(GPT2)) {
    const etag = name.endsWith('.safetensors') ? sha256(bytes) : gitSha1(bytes);
    writeFileSync(join(root, 'blobs', etag), bytes);
    if (name !== 'README.md') symlinkSync(`../../blobs/${etag}`, join(root, 'snapshots', commit, name));
  }
  const settings: HubSettings = { cacheDir: cache, endpoint: 'http://127.0.0.1:9', token: null, offline: true };
  const m = fromCache(settings, parseModelId('org/gpt2-a')!);
  assert.ok(!('missing' in m));
  assert.equal(m.commit, commit);
  assert.equal(m.dir, join(root, 'snapshots', commit));
  assert.deepEqual(
    m.files.map((f) => f.path),
    ['config.json', 'generation_config.json', 'model.safetensors'],
  );
  assert.equal(m.files[2].etag, sha256(GPT2['model.safetensors']));
  assertScoresGolden(m.dir);
  // the same commit asked by hash, and a branch the cache never saw
  assert.equal((fromCache(settings, parseModelId(`org/gpt2-a@${commit}`)!) as { commit: string }).commit, commit);
  assert.deepEqual(fromCache(settings, parseModelId('org/gpt2-a@dev')!), { missing: 'refs/dev' });
  return (async () => {
    await assert.rejects(
      fetchModel(settings, parseModelId('org/gpt2-a@dev')!),
      /HF_HUB_OFFLINE is set, and no cached snapshot of org\/gpt2-a@dev .*refs\/dev is missing\); run `langquant download org\/gpt2-a@dev`.*unset HF_HUB_OFFLINE/,
    );
    // remove the weights' link: offline, the message names the missing file
    const { rmSync } = await import('node:fs');
    rmSync(join(root, 'snapshots', commit, 'model.safetensors'));
    await assert.rejects(
      fetchModel(settings, parseModelId('org/gpt2-a')!),
      /HF_HUB_OFFLINE is set, and the cached snapshot of org\/gpt2-a lacks model\.safetensors/,
    );
  })();
});

let hub: FakeHub;
before(async () => {
  hub = await new FakeHub().start();
});
after(async () => {
  await hub.stop();
});

function settingsFor(cache: string, extra: Partial<HubSettings> = {}): HubSettings {
  return { cacheDir: cache, endpoint: hub.endpoint, token: null, offline: false, ...extra };
}

const fast = { retryDelayMs: 5 };

test('download: model info, resolve headers, LFS redirect to the CDN; the cache is laid out as huggingface_hub lays it out; a second call downloads nothing', async (t) => {
  const cache = tempDir(t, 'dl');
  const commit = hub.publish('org/gpt2-dl', GPT2, { lfs: ['model.safetensors'] });
  hub.log.length = 0;
  const progress: number[] = [];
  const m = await fetchModel(settingsFor(cache), parseModelId('org/gpt2-dl')!, {
    ...fast,
    onProgress: (p) => p.path === 'model.safetensors' && progress.push(p.bytes),
  });
  assert.equal(m.commit, commit);
  const root = repoFolder(cache, 'org/gpt2-dl');
  assert.equal(readFileSync(join(root, 'refs', 'main'), 'utf8'), commit);
  // blobs named by the hub's hash, snapshot entries relative links into them; README.md not fetched
  const safetensorsSha = sha256(GPT2['model.safetensors']);
  assert.deepEqual(
    readdirSync(join(root, 'blobs')).sort(),
    [gitSha1(GPT2['config.json']), gitSha1(GPT2['generation_config.json']), safetensorsSha].sort(),
  );
  const link = join(root, 'snapshots', commit, 'model.safetensors');
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readlinkSync(link), `../../blobs/${safetensorsSha}`);
  assert.ok(!existsSync(join(root, 'snapshots', commit, 'README.md')));
  assert.equal(progress.at(-1), GPT2['model.safetensors'].length);
  assertScoresGolden(m.dir);
  // requests: resolve at the commit (not the branch); the CDN got the bytes
  assert.ok(hub.requests('hub', 'HEAD').every((r) => r.url.includes(`/resolve/${commit}/`)));
  assert.equal(hub.requests('cdn', 'GET').length, 1);
  hub.log.length = 0;
  const again = await fetchModel(settingsFor(cache), parseModelId('org/gpt2-dl')!, fast);
  assert.equal(again.identity, m.identity);
  assert.deepEqual(
    hub.log.map((r) => r.url),
    ['/api/models/org/gpt2-dl/revision/main'],
  );
  // a pinned commit complete in the cache needs no request at all
  hub.log.length = 0;
  await fetchModel(settingsFor(cache), parseModelId(`org/gpt2-dl@${commit}`)!, fast);
  assert.equal(hub.log.length, 0);
});

test('a moved branch: a new commit, a new identity, refs/main updated, the old snapshot kept; unchanged blobs are not fetched again', async (t) => {
  const cache = tempDir(t, 'move');
  const first = hub.publish('org/moving', GPT2, { lfs: ['model.safetensors'] });
  const a = await fetchModel(settingsFor(cache), parseModelId('org/moving')!, fast);
  const cfg = JSON.parse(GPT2['config.json'].toString());
  const second = hub.publish(
    'org/moving',
    { ...GPT2, 'config.json': Buffer.from(JSON.stringify({ ...cfg, layer_norm_epsilon: 1e-6 })) },
    { lfs: ['model.safetensors'] },
  );
  hub.log.length = 0;
  const b = await fetchModel(settingsFor(cache), parseModelId('org/moving')!, fast);
  assert.notEqual(first, second);
  assert.equal(b.commit, second);
  assert.notEqual(b.identity, a.identity);
  assert.equal(readFileSync(join(repoFolder(cache, 'org/moving'), 'refs', 'main'), 'utf8'), second);
  assert.ok(existsSync(join(a.dir, 'config.json')));
  assert.equal(hub.requests('cdn').length, 0, 'the weights blob was already there');
});

test('a dropped connection mid-file resumes with Range and the file is verified; a download killed for good is resumed by the next run', async (t) => {
  const cache = tempDir(t, 'drop');
  hub.publish('org/flaky', GPT2, { lfs: ['model.safetensors'] });
  const size = GPT2['model.safetensors'].length;
  hub.faults = { drop: { afterBytes: 100_000, count: 2 } };
  hub.log.length = 0;
  const m = await fetchModel(settingsFor(cache), parseModelId('org/flaky')!, fast);
  hub.faults = {};
  assert.deepEqual(
    hub.requests('cdn', 'GET').map((r) => r.range),
    [null, 'bytes=100000-', 'bytes=200000-'],
  );
  assertScoresGolden(m.dir);

  const cache2 = tempDir(t, 'drop2');
  hub.faults = { drop: { afterBytes: 300_000, count: 1 } };
  await assert.rejects(
    fetchModel(settingsFor(cache2), parseModelId('org/flaky')!, { ...fast, retries: 0 }),
    (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(
        e.message,
        new RegExp(
          `model\\.safetensors of org/flaky failed 1 times .*300000 of ${size} bytes are kept in .*\\.incomplete and the next run resumes from there`,
        ),
      );
      return true;
    },
  );
  const blobs = join(repoFolder(cache2, 'org/flaky'), 'blobs');
  const sha = sha256(GPT2['model.safetensors']);
  assert.ok(
    existsSync(join(blobs, `${sha}.incomplete`)) && !existsSync(join(blobs, sha)),
    'only the partial file: nothing looks complete',
  );
  assert.ok(!existsSync(join(m.dir.replace('drop', 'drop2'), 'model.safetensors')));
  hub.faults = {};
  hub.log.length = 0;
  const resumed = await fetchModel(settingsFor(cache2), parseModelId('org/flaky')!, fast);
  assert.deepEqual(
    hub.requests('cdn', 'GET').map((r) => r.range),
    ['bytes=300000-'],
  );
  assert.ok(!existsSync(join(blobs, `${sha}.incomplete`)));
  assertScoresGolden(resumed.dir);
  // a server that ignores Range sends the whole file again: still right
  const cache3 = tempDir(t, 'drop3');
  hub.faults = { drop: { afterBytes: 50_000, count: 1 }, ignoreRange: true };
  assertScoresGolden((await fetchModel(settingsFor(cache3), parseModelId('org/flaky')!, fast)).dir);
  hub.faults = {};
});

test('damaged bytes never enter the cache: the hash mismatch is named and the partial file removed', async (t) => {
  const cache = tempDir(t, 'bad');
  hub.publish('org/damaged', GPT2, { lfs: ['model.safetensors'] });
  hub.faults = { corrupt: true };
  await assert.rejects(fetchModel(settingsFor(cache), parseModelId('org/damaged')!, fast), (e: unknown) => {
    assert.ok(e instanceof HubError);
    assert.match(
      e.message,
      new RegExp(
        `model\\.safetensors of org/damaged: the bytes have SHA-256 [0-9a-f]{64}, but the hub announced ${sha256(GPT2['model.safetensors'])}; the download was discarded`,
      ),
    );
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
  hub.faults = {};
  const root = repoFolder(cache, 'org/damaged');
  assert.deepEqual(
    readdirSync(join(root, 'blobs')).filter((b) => b.startsWith(sha256(GPT2['model.safetensors']))),
    [],
  );
  assert.ok(!existsSync(join(root, 'refs', 'main')), 'no ref to an incomplete snapshot');
});

test('gated (401 without HF_TOKEN, the token sent to the hub only, never to the CDN), a repository or file that is missing (404), a renamed repository, an unreachable hub', async (t) => {
  const cache = tempDir(t, 'gated');
  hub.publish('org/gated', GPT2, { lfs: ['model.safetensors'], gatedToken: 'hf_secret' });
  await assert.rejects(
    fetchModel(settingsFor(cache), parseModelId('org/gated')!, fast),
    /org\/gated is gated or private \(HTTP 401 for its model info\): accept its terms on http:\/\/127\.0\.0\.1:\d+\/org\/gated and set HF_TOKEN/,
  );
  await assert.rejects(
    fetchModel(settingsFor(cache, { token: 'hf_wrong' }), parseModelId('org/gated')!, fast),
    /HTTP 401.*\(the HF_TOKEN set was refused\)/,
  );
  hub.log.length = 0;
  const m = await fetchModel(settingsFor(cache, { token: 'hf_secret' }), parseModelId('org/gated')!, fast);
  assertScoresGolden(m.dir);
  assert.ok(hub.requests('hub').every((r) => r.auth === 'Bearer hf_secret'));
  assert.ok(
    hub.requests('cdn').length > 0 && hub.requests('cdn').every((r) => r.auth === null),
    'the token must not travel to the CDN',
  );

  await assert.rejects(
    fetchModel(settingsFor(cache), parseModelId('org/nothing')!, fast),
    /org\/nothing was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\): check the model id/,
  );
  await assert.rejects(
    fetchModel(settingsFor(cache), parseModelId('org/gpt2-dl@nobranch')!, fast),
    /org\/gpt2-dl@nobranch was not found .*\(HTTP 404\).*and the revision nobranch/,
  );
  hub.publish('org/holes', GPT2, { lfs: ['model.safetensors'], missing: ['model.safetensors'] });
  await assert.rejects(
    fetchModel(settingsFor(cache), parseModelId('org/holes')!, fast),
    /org\/holes has no file model\.safetensors \(HTTP 404\)/,
  );
  hub.publish('org/new-name', GPT2, { lfs: ['model.safetensors'] });
  // a renamed repository: the old name's model info still answers, its resolve URLs redirect (relatively) to the new
  // name
  hub.repos.set('org/old-name', hub.repos.get('org/new-name')!);
  hub.renamed.set('org/old-name', 'org/new-name');
  hub.log.length = 0;
  assertScoresGolden((await fetchModel(settingsFor(cache), parseModelId('org/old-name')!, fast)).dir);
  assert.ok(hub.requests('hub', 'HEAD').some((r) => r.url.startsWith('/org/new-name/resolve/')));
  // unreachable: an error saying so; with a complete cached snapshot, the cache and a warning
  const closed = createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((ok) => closed.close(() => ok()));
  const down = { ...settingsFor(cache), endpoint: `http://127.0.0.1:${port}` };
  await assert.rejects(
    fetchModel(down, parseModelId('org/never')!, fast),
    /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*HF_HUB_OFFLINE=1/,
  );
  const warnings: string[] = [];
  const cachedGated = await fetchModel(down, parseModelId('org/gated')!, {
    ...fast,
    onWarning: (w) => warnings.push(w),
  });
  assert.equal(cachedGated.commit, m.commit);
  assert.match(warnings[0], /cannot reach .* using the cached snapshot/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
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

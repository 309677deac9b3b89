// `langquant corpus` end to end: the UDHR study set and a user folder with a bad file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';

test('udhr study set: classes, groups, detected scripts', () => {
  const r = runCli(['corpus', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.languages.length, 20);
  assert.equal(out.alignedUnits, 30);
  assert.ok(out.languages.every((l: { scriptOk: boolean }) => l.scriptOk));
  const t = runCli(['corpus', '--languages', 'eng,amh']);
  assert.match(t.stdout, /^amh\s+Amharic\s+2\s+low\s+30\s/m);
});

test('a user folder: table, then a clear one-line error for an invalid file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-corpus-'));
  writeFileSync(join(dir, 'eng.txt'), 'Hello.\n\nWorld.\n');
  writeFileSync(join(dir, 'rus.txt'), 'Привет.\n\nМир.\n');
  const ok = runCli(['corpus', '--corpus', dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /2 languages, 2 units shared by all/);
  writeFileSync(join(dir, 'swh.txt'), new Uint8Array([0x48, 0xc0, 0x80]));
  const bad = runCli(['corpus', '--corpus', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^langquant: .*swh\.txt: not valid UTF-8 \(first bad byte at offset 1\); convert the file to UTF-8/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});

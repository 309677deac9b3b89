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
  const t = runCli(['corpus', '--languages', 'eng,amh,srp_latn']);
  assert.match(t.stdout, /^amh\s+Amharic\s+2\s+low\s+30\s/m);
  assert.match(t.stdout, /^srp_latn\s+Serbian\s.*\sLatn$/m); // the entry's own script, not the registry's Cyrl
  assert.equal(t.stderr, '');
});

test('incomplete udhr declarations: refused with the flag to use, read with it', () => {
  const no = runCli(['corpus', '--languages', 'eng,tzm_tfng']);
  assert.equal(no.code, 2);
  assert.match(
    no.stderr,
    /^langquant: udhr entry "tzm_tfng" .* is incomplete \(stage 1\); name another entry or allow incomplete declarations \(--include-incomplete\)\n$/,
  );
  const yes = runCli(['corpus', '--languages', 'eng,tzm_tfng', '--include-incomplete', '--json']);
  assert.equal(yes.code, 0, yes.stderr);
  assert.equal(JSON.parse(yes.stdout).languages[1].script, 'Tfng');
});

test('a user folder: table, then a clear one-line error for an invalid file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lq-corpus-'));
  writeFileSync(join(dir, 'eng.txt'), 'Hello.\n\nWorld.\n');
  writeFileSync(join(dir, 'rus.txt'), 'Привет.\n\nМир.\n');
  writeFileSync(join(dir, 'ukr.txt'), 'Hello.\n\nWorld.\n'); // Ukrainian file holding English text
  const ok = runCli(['corpus', '--corpus', dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /3 languages, 2 units shared by all/);
  assert.match(ok.stdout, /^ukr\s.*Latn \(expected: Cyrl\)$/m);
  assert.match(
    ok.stderr,
    /^langquant: warning: folder:.*: the ukr text is written in Latn, not Cyrl; check that it belongs to this language$/m,
  );
  writeFileSync(join(dir, 'swh.txt'), new Uint8Array([0x48, 0xc0, 0x80]));
  const bad = runCli(['corpus', '--corpus', dir]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^langquant: .*swh\.txt: not valid UTF-8 \(first bad byte at offset 1\); convert the file to UTF-8/,
  );
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});

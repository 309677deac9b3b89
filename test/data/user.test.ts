// User corpora: <lang>.txt folders, FLORES-200 folders, JSON Lines; each bad input a DataError naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alignedUnitIds } from '../../src/data/corpus.ts';
import { floresCorpus, folderCorpus, jsonlCorpus, openCorpus } from '../../src/data/user.ts';
import { DataError } from '../../src/errors.ts';

function tmp(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lq-data-'));
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}
const dataError = (re: RegExp) => (e: unknown) => e instanceof DataError && re.test(e.message);

test('folder of <lang>.txt: paragraph units (default), NFC', () => {
  const dir = tmp({
    'eng.txt': 'First para\nstill first.\n\n\nSecond.\n',
    'swh.txt': 'Kwanza.\n\nPili.',
    'fra.txt': 'Cafe\u0301.\n',
  });
  const c = folderCorpus(dir);
  assert.deepEqual(c.languages, ['eng', 'fra', 'swh']);
  assert.deepEqual(c.units('eng'), [
    { id: 'p1', text: 'First para\nstill first.' },
    { id: 'p2', text: 'Second.' },
  ]);
  assert.equal(c.units('fra')[0].text, 'Café.');
  assert.deepEqual(alignedUnitIds(c, ['eng', 'swh']), ['p1', 'p2']);
});

test('folder with line units: aligned, blank lines keep numbering, mismatched counts refused', () => {
  const ok = folderCorpus(tmp({ 'eng.txt': 'a\n\nc\n', 'swh_Latn.txt': 'x\n\nz\n' }), { unit: 'line' });
  assert.deepEqual(
    ok.units('swh_Latn').map((u) => u.id),
    ['l1', 'l3'],
  );
  assert.equal(ok.iso6393('swh_Latn'), 'swh');
  const dir = tmp({ 'eng.txt': 'a\nb\nc\n', 'swh.txt': 'x\ny\n' });
  assert.throws(() => folderCorpus(dir, { unit: 'line' }), dataError(/swh\.txt has 2 lines but .*eng\.txt has 3/));
});

test('folder errors: invalid UTF-8, empty file, unknown language code, no files', () => {
  assert.throws(
    () => folderCorpus(tmp({ 'eng.txt': new Uint8Array([0x61, 0x62, 0xff, 0x63]) })),
    dataError(/eng\.txt: not valid UTF-8 \(first bad byte at offset 2\)/),
  );
  assert.throws(() => folderCorpus(tmp({ 'eng.txt': 'a', 'swh.txt': ' \n\n' })), dataError(/swh\.txt is empty/));
  assert.throws(() => folderCorpus(tmp({ 'qqq.txt': 'a' })), dataError(/qqq\.txt: unknown language code "qqq"/));
  assert.throws(
    () => folderCorpus(tmp({ 'english.txt': 'a' })),
    dataError(/english\.txt: "english" is not a language code/),
  );
  assert.equal(folderCorpus(tmp({ 'qqq.txt': 'a' }), { allowUnregistered: true }).languages[0], 'qqq');
  assert.throws(() => folderCorpus(tmp({ 'notes.md': 'a' })), dataError(/no <lang>\.txt files/));
  assert.throws(() => folderCorpus('/no/such/dir'), dataError(/does not exist/));
});

test('FLORES-200 folder: dev + devtest, aligned sentence ids, zho → cmn', () => {
  const dir = tmp({
    'dev/eng_Latn.dev': 'One.\nTwo.\n',
    'dev/zho_Hans.dev': '一。\n二。\n',
    'devtest/eng_Latn.devtest': 'Three.\n',
    'devtest/zho_Hans.devtest': '三。\n',
  });
  const c = floresCorpus(dir);
  assert.deepEqual(
    c.units('eng_Latn').map((u) => u.id),
    ['dev-1', 'dev-2', 'devtest-1'],
  );
  assert.equal(c.iso6393('zho_Hans'), 'cmn');
  assert.equal(floresCorpus(dir, { split: 'devtest' }).units('zho_Hans').length, 1);
  assert.equal(openCorpus(dir).name, `flores:${dir}:all`);
});

test('FLORES errors: mismatched line counts, blank line, missing split, bad UTF-8', () => {
  assert.throws(
    () => floresCorpus(tmp({ 'dev/eng_Latn.dev': 'a\nb\n', 'dev/swh_Latn.dev': 'a\n' })),
    dataError(
      /swh_Latn\.dev has 1 line but .*eng_Latn\.dev has 2 lines; aligned files must have one translation per line/,
    ),
  );
  assert.throws(
    () => floresCorpus(tmp({ 'dev/eng_Latn.dev': 'a\n\nb\n' })),
    dataError(/eng_Latn\.dev line 2 is blank/),
  );
  assert.throws(
    () =>
      floresCorpus(tmp({ 'dev/eng_Latn.dev': 'a\n', 'devtest/swh_Latn.devtest': 'a\n', 'dev/swh_Latn.dev': 'b\n' })),
    dataError(/lacks devtest\/eng_Latn\.devtest/),
  );
  assert.throws(
    () => floresCorpus(tmp({ 'dev/eng_Latn.dev': new Uint8Array([0xc3, 0x28]) })),
    dataError(/eng_Latn\.dev: not valid UTF-8/),
  );
  assert.throws(
    () => floresCorpus(tmp({ 'dev/xyz_Latn.dev': 'a\n' })),
    dataError(/xyz_Latn\.dev: unknown language code/),
  );
});

test('JSON Lines: units per language, ids aligned when given', () => {
  const dir = tmp({
    'c.jsonl': [
      '{"lang":"eng","text":"Hello.","id":"a"}',
      '{"lang":"swh","text":"Habari.","id":"a"}',
      '',
      '{"lang":"eng","text":"Bye.","id":"b"}',
    ].join('\n'),
  });
  const c = jsonlCorpus(join(dir, 'c.jsonl'));
  assert.deepEqual(c.languages, ['eng', 'swh']);
  assert.deepEqual(alignedUnitIds(c), ['a']);
  assert.equal(openCorpus(join(dir, 'c.jsonl')).units('eng').length, 2);
});

test('JSON Lines errors name the file and line', () => {
  const f = (s: string | Uint8Array) => join(tmp({ 'x.jsonl': s }), 'x.jsonl');
  assert.throws(() => jsonlCorpus(f('{"lang":"eng","text":"a"}\n{oops')), dataError(/x\.jsonl line 2 is not JSON/));
  assert.throws(() => jsonlCorpus(f('{"lang":"eng"}')), dataError(/line 1 needs string fields "lang" and "text"/));
  assert.throws(
    () => jsonlCorpus(f('{"lang":"zzz","text":"a"}')),
    dataError(/x\.jsonl line 1: unknown language code "zzz"/),
  );
  assert.throws(() => jsonlCorpus(f('')), dataError(/x\.jsonl is empty/));
  assert.throws(
    () => jsonlCorpus(f(new Uint8Array([0x7b, 0xed, 0xa0, 0x80]))),
    dataError(/x\.jsonl: not valid UTF-8 \(first bad byte at offset 1\)/),
  );
  assert.throws(
    () => jsonlCorpus(f('{"lang":"eng","text":"a","id":1}\n{"lang":"eng","text":"b","id":1}')),
    dataError(/id "1" appears twice/),
  );
});

test('openCorpus: udhr by name, unknown path', () => {
  assert.deepEqual(openCorpus('udhr', { languages: ['eng', 'swh'] }).languages, ['eng', 'swh']);
  assert.throws(() => openCorpus('/no/such/corpus'), dataError(/does not exist; use "udhr"/));
});
